"""Fixtures of training's tests: a small COCO-style set made from real photos (skimage.data), and
the tiny LLaVA saved once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image


def _save(array: Any, path: Path) -> tuple[int, int]:
    image = Image.fromarray(array).convert("RGB")
    image.save(path, quality=92)
    return image.size


@pytest.fixture(scope="session")
def coco_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five real photos; the cat appears twice (once mirrored) under one name with a Unicode
    character, the rest are unnamed (the builder names them). Returns the annotation JSON's path."""
    from skimage import data

    root = tmp_path_factory.mktemp("coco")
    images, annotations = [], []
    cat = data.chelsea()  # 300x451, the cat's head around the middle
    photos = {
        "chelsea.jpg": cat,
        "chelsea_mirror.jpg": cat[:, ::-1],
        "astronaut.jpg": data.astronaut(),
        "coffee.jpg": data.coffee(),
        "rocket.jpg": data.rocket(),
    }
    for i, (file_name, array) in enumerate(photos.items()):
        w, h = _save(array, root / file_name)
        images.append({"id": i, "file_name": file_name, "width": w, "height": h})
    boxes: list[tuple[int, list[int], int, str | None]] = [
        (0, [130, 20, 200, 230], 1, "Zoë the cat"),
        (1, [451 - 330, 20, 200, 230], 1, "Zoë the cat"),
        (2, [150, 10, 200, 220], 2, None),
        (2, [320, 260, 150, 240], 3, None),
        (3, [140, 80, 340, 260], 3, None),
        (4, [200, 40, 100, 360], 4, None),
    ]
    for ann_id, (image_id, bbox, category, name) in enumerate(boxes):
        ann: dict[str, Any] = {"id": ann_id, "image_id": image_id, "bbox": bbox, "category_id": category}
        if name:
            ann["name"] = name
            ann["info"] = "A ginger tabby cat with green eyes."
        annotations.append(ann)
    categories = [
        {"id": 1, "name": "cat"},
        {"id": 2, "name": "person"},
        {"id": 3, "name": "cup"},
        {"id": 4, "name": "rocket"},
    ]
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model.tiny_llava import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny") / "llava")
