"""Read the user's annotated images into one shape the builder works from.

Three inputs:
- COCO-style JSON: {"images": [{"id", "file_name", "width"?, "height"?}], "annotations": [{"id",
  "image_id", "bbox": [x, y, w, h], "category_id", "name"?, "info"?}], "categories": [{"id", "name"}]}.
  An annotation's optional "name" says which concept it is (the same name in several images = the
  same concept seen again); without one, every annotation is its own concept and gets a name.
- RefCOCO-style: the same, plus referring expressions, either on the annotation ("sentences":
  [{"sent": ...}] or "expressions": [...]) or in a top-level "refs": [{"ann_id", "sentences"}]. With
  refs, only the referred annotations are used; an expression serves as the description fallback.
- A concept folder: <root>/<name>/*.jpg (one folder per concept, every photo shows it) and an
  optional <root>/concepts.json or .yaml: {"bo": {"info": "...", "category": "dog",
  "boxes": {"photo.jpg": [x1, y1, x2, y2]}}}. A photo without a box stands for the concept as a whole.

Problems (a missing image, a box outside its image, a crop too small, a duplicate name) are collected
per item; the item is left out and everything else goes on."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, UnidentifiedImageError

from training.metrics import fold

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}

# Short, distinct names for concepts the annotations leave unnamed (as the paper "assigns names").
NAME_POOL = (
    "bo", "mila", "toby", "luna", "kiko", "remy", "nala", "otis", "pip", "zara", "juno", "milo", "suki",
    "teo", "ivy", "rex", "lola", "finn", "yuki", "ada", "bruno", "cleo", "dax", "elio", "fifi", "gus",
    "hana", "iggy", "jade", "kai", "lulu", "mochi", "nico", "olive", "pax", "quin", "rosa", "sol", "tami",
    "uma", "vito", "wren", "xeno", "yara", "zeke",
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    item: str  # which input item (file, annotation id, folder)
    reason: str


@dataclass
class Occurrence:
    """One concept seen in one image."""

    concept: str
    box: Box | None  # None: the whole photo shows the concept
    info: str | None = None
    category: str = "object"
    expressions: list[str] = field(default_factory=list)
    source: str = ""  # for problem reports, e.g. "annotation 17"


@dataclass
class SourceImage:
    path: Path
    size: tuple[int, int]
    occurrences: list[Occurrence] = field(default_factory=list)


@dataclass
class SourceSet:
    images: list[SourceImage] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def concepts(self) -> dict[str, list[tuple[SourceImage, Occurrence]]]:
        """Every concept and where it occurs, in input order."""
        seen: dict[str, list[tuple[SourceImage, Occurrence]]] = {}
        for image in self.images:
            for occ in image.occurrences:
                seen.setdefault(occ.concept, []).append((image, occ))
        return seen


def _open_size(path: Path) -> tuple[int, int] | str:
    """The image's size, or why it cannot be used."""
    if not path.is_file():
        return "image file not found"
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError) as exc:
        return f"not a readable image ({exc.__class__.__name__})"


def check_box(box: Box, size: tuple[int, int], min_px: int) -> Box | str:
    """A box clipped to the image (sub-pixel overshoot allowed), or why it is unusable."""
    x1, y1, x2, y2 = box
    w, h = size
    if x1 < -1 or y1 < -1 or x2 > w + 1 or y2 > h + 1:
        return f"box {list(box)} lies outside the {w}x{h} image"
    x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
    if x2 - x1 < min_px or y2 - y1 < min_px:
        return f"box {list(box)} gives an empty or tiny crop (under {min_px} px)"
    return (x1, y1, x2, y2)


class _Namer:
    """Hands out names from the pool in a seeded order, adding a number once it runs out."""

    def __init__(self, seed: int, taken: Iterable[str]) -> None:
        self._pool = list(NAME_POOL)
        random.Random(seed).shuffle(self._pool)
        self._taken = {fold(n) for n in taken}
        self._i = 0

    def next(self) -> str:
        while True:
            base = self._pool[self._i % len(self._pool)]
            round_ = self._i // len(self._pool)
            self._i += 1
            name = base if round_ == 0 else f"{base}{round_ + 1}"
            if fold(name) not in self._taken:
                self._taken.add(fold(name))
                return name


def _sentences(raw: Any) -> list[str]:
    out: list[str] = []
    for s in raw or []:
        text = s.get("sent") or s.get("raw") if isinstance(s, dict) else s
        if isinstance(text, str) and text.strip():
            out.append(text.strip())
    return out


def read_coco(json_path: Path, image_root: Path | None, *, seed: int, min_crop_px: int) -> SourceSet:
    """Read a COCO- or RefCOCO-style annotation file; image paths are relative to `image_root`
    (default: the JSON's folder)."""
    root = image_root or json_path.parent
    result = SourceSet()
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result.problems.append(Problem(str(json_path), f"cannot read annotations: {exc}"))
        return result
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        result.problems.append(Problem(str(json_path), 'expected an object with an "images" list'))
        return result
    categories = {c.get("id"): str(c.get("name", "object")) for c in data.get("categories", []) if isinstance(c, dict)}
    refs: dict[Any, list[str]] = {}
    for ref in data.get("refs", []) or []:
        if isinstance(ref, dict) and "ann_id" in ref:
            refs.setdefault(ref["ann_id"], []).extend(_sentences(ref.get("sentences")))
    annotations: dict[Any, list[dict[str, Any]]] = {}
    for ann in data.get("annotations", []) or []:
        if not isinstance(ann, dict) or ann.get("iscrowd"):
            continue
        if refs and ann.get("id") not in refs:
            continue  # RefCOCO-style: only the referred objects are concepts
        annotations.setdefault(ann.get("image_id"), []).append(ann)
    explicit = {str(a["name"]) for anns in annotations.values() for a in anns if a.get("name")}
    namer = _Namer(seed, explicit)

    for entry in data["images"]:
        if not isinstance(entry, dict) or "file_name" not in entry:
            result.problems.append(Problem(str(json_path), f"image entry without file_name: {entry!r:.80}"))
            continue
        anns = annotations.get(entry.get("id"), [])
        if not anns:
            continue  # nothing annotated here (e.g. a COCO image no RefCOCO expression refers to)
        path = root / str(entry["file_name"])
        size = _open_size(path)
        if isinstance(size, str):
            result.problems.append(Problem(str(entry["file_name"]), size))
            continue
        image = SourceImage(path=path, size=size)
        names_here: set[str] = set()
        for ann in anns:
            source = f"{entry['file_name']} annotation {ann.get('id', '?')}"
            bbox = ann.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
                result.problems.append(Problem(source, "bbox must be [x, y, width, height] numbers"))
                continue
            x, y, w, h = (float(v) for v in bbox)
            box = check_box((x, y, x + w, y + h), size, min_crop_px)
            if isinstance(box, str):
                result.problems.append(Problem(source, box))
                continue
            name = str(ann["name"]) if ann.get("name") else namer.next()
            if fold(name) in names_here:
                result.problems.append(Problem(source, f"duplicate name {name!r} in the same image"))
                continue
            names_here.add(fold(name))
            expressions = _sentences(ann.get("sentences")) + [str(e) for e in ann.get("expressions", []) or []]
            expressions += refs.get(ann.get("id"), [])
            info = ann.get("info") or ann.get("description")
            image.occurrences.append(
                Occurrence(
                    concept=name,
                    box=box,
                    info=str(info) if info else None,
                    category=str(ann.get("category") or categories.get(ann.get("category_id"), "object")),
                    expressions=expressions,
                    source=source,
                )
            )
        if image.occurrences:
            result.images.append(image)
        else:
            result.problems.append(Problem(str(entry["file_name"]), "no usable annotation left"))
    return result


def _read_concept_meta(root: Path) -> dict[str, Any] | str:
    for name in ("concepts.json", "concepts.yaml", "concepts.yml"):
        path = root / name
        if not path.is_file():
            continue
        try:
            if path.suffix == ".json":
                meta = json.loads(path.read_text(encoding="utf-8"))
            else:
                meta = yaml.safe_load(path.read_text(encoding="utf-8"))
        except Exception as exc:  # malformed JSON or YAML
            return f"cannot read {name}: {exc}"
        return meta if isinstance(meta, dict) else f"{name} must map concept names to their details"
    return {}


def read_concept_folder(root: Path, *, min_crop_px: int) -> SourceSet:
    """Read <root>/<concept>/*.jpg with optional concepts.json|yaml details."""
    result = SourceSet()
    meta = _read_concept_meta(root)
    if isinstance(meta, str):
        result.problems.append(Problem(str(root), meta))
        meta = {}
    if not root.is_dir():
        result.problems.append(Problem(str(root), "concept folder not found"))
        return result
    seen: dict[str, str] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = folder.name
        if fold(name) in seen:
            result.problems.append(Problem(str(folder), f"duplicate name: same as {seen[fold(name)]!r}"))
            continue
        seen[fold(name)] = name
        details = meta.get(name, {}) if isinstance(meta.get(name, {}), dict) else {}
        boxes = details.get("boxes", {}) or {}
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            result.problems.append(Problem(str(folder), "no photos (.jpg, .png, .webp, .bmp) in the folder"))
        for photo in photos:
            size = _open_size(photo)
            if isinstance(size, str):
                result.problems.append(Problem(str(photo), size))
                continue
            box: Box | None = None
            if photo.name in boxes:
                raw = boxes[photo.name]
                checked = (
                    check_box(tuple(float(v) for v in raw), size, min_crop_px)  # type: ignore[arg-type]
                    if isinstance(raw, list) and len(raw) == 4
                    else "box must be [x1, y1, x2, y2]"
                )
                if isinstance(checked, str):
                    result.problems.append(Problem(str(photo), checked))
                    continue
                box = checked
            info = details.get("info") or details.get("description")
            occ = Occurrence(
                concept=name,
                box=box,
                info=str(info) if info else None,
                category=str(details.get("category", "object")),
                source=str(photo),
            )
            result.images.append(SourceImage(path=photo, size=size, occurrences=[occ]))
    return result
