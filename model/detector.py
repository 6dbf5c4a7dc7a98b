"""Open-vocabulary object detector: ultralytics YOLO-World with class text features from open_clip
(never ultralytics' set_classes, which needs the GitHub-only `clip` package)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from model.base import InferenceModel
from model.encoder import ClipEncoder
from model.settings import ModelSettings
from model.tiny import build_random_yolo_world
from model.types import Detection
from model.ultralytics_offline import import_ultralytics_offline, keep_all_cores
from model.weights import (
    WeightsMissing,
    hub_offline,
    is_ultralytics_config,
    local_ultralytics_path,
    pull_ultralytics,
)

log = logging.getLogger(__name__)

DEFAULT_TEXT_SPEC = "open_clip:ViT-B-32/openai"  # YOLO-World was trained on OpenAI CLIP B/32 text features
IMAGE_SIZE = 640
_FEATURE_CACHE_SIZE = 64


@dataclass
class LoadedYolo:
    yolo: Any  # ultralytics.YOLOWorld
    classes: tuple[str, ...] | None = None  # the vocabulary currently set on the head


class YoloWorldDetector(InferenceModel[LoadedYolo]):
    """`spec` is an ultralytics weight ("yolov8x-worldv2.pt", a path) or a graph yaml
    ("yolov8s-worldv2.yaml": seeded random weights). `text_spec` is the open_clip text encoder that
    turns class names into the head's 512-d class features; pass `text_encoder` to share one that
    is already there (the cpu profile's encoder is the same ViT-B-32)."""

    name = "detector"

    def __init__(
        self,
        spec: str,
        settings: ModelSettings | None = None,
        *,
        text_spec: str = DEFAULT_TEXT_SPEC,
        text_encoder: ClipEncoder | None = None,
        device: str | None = None,
        dtype: str | None = None,
    ) -> None:
        self.settings = settings or ModelSettings()
        super().__init__(device or self.settings.device, dtype or self.settings.dtype)
        self.spec = spec
        self.name = f"detector {spec}"
        self.text_encoder = text_encoder or ClipEncoder(
            text_spec, self.settings, text_only=True, device=device, dtype=dtype
        )
        self._features: OrderedDict[tuple[str, ...], npt.NDArray[np.float32]] = OrderedDict()
        self._predict_lock = threading.Lock()

    def _weights(self) -> Path:
        local = local_ultralytics_path(self.spec, self.settings)
        if local.is_file():
            return local
        if hub_offline():
            raise WeightsMissing(self.spec, self.settings.profile, "offline and not in the model dir")
        return pull_ultralytics(self.spec, self.settings)

    def _load(self) -> LoadedYolo:
        ultralytics = import_ultralytics_offline()
        if is_ultralytics_config(self.spec):
            yolo = build_random_yolo_world(self.spec)
        else:
            yolo = ultralytics.YOLOWorld(str(self._weights()), verbose=False)
        yolo.model.eval()
        # Set the predictor up now, on a blank photo: its setup caps torch's CPU threads, which
        # keep_all_cores then undoes, so every real photo runs with the same thread count (and so
        # gets the same boxes, bit for bit, on every call).
        blank = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE))
        yolo.predict(blank, imgsz=IMAGE_SIZE, verbose=False, **self._setup_options())
        keep_all_cores()
        return LoadedYolo(yolo)

    def class_features(self, classes: Sequence[str]) -> npt.NDArray[np.float32]:
        """(n, 512) normalised text features of the class names, cached per class list."""
        key = tuple(classes)
        cached = self._features.get(key)
        if cached is None:
            cached = self.text_encoder.embed_texts(list(key))
            self._features[key] = cached
            while len(self._features) > _FEATURE_CACHE_SIZE:
                self._features.popitem(last=False)
        else:
            self._features.move_to_end(key)
        return cached

    def _set_classes(self, loaded: LoadedYolo, classes: tuple[str, ...]) -> None:
        if loaded.classes == classes:
            return
        import torch

        features = torch.from_numpy(self.class_features(classes)).unsqueeze(0)  # (1, n, 512)
        worlds = [loaded.yolo.model]
        predictor = loaded.yolo.predictor
        if predictor is not None and predictor.model.model is not loaded.yolo.model:
            # The predictor runs its own (fused) copy of the network. Updating it in place keeps the
            # predictor: setting one up again costs ~0.1 s per photo on a CPU.
            worlds.append(predictor.model.model)
        for world in worlds:
            world.txt_feats = features.to(next(world.parameters()).device)
            world.model[-1].nc = len(classes)
            world.names = dict(enumerate(classes))
        if predictor is not None:
            predictor.model.names = loaded.yolo.model.names
        loaded.classes = classes

    def _setup_options(self) -> dict[str, Any]:
        """The predict options ultralytics sets its predictor up with: the same on every call, or
        it builds a new predictor (and caps the CPU threads again) each time."""
        import torch

        return {"device": self.device, "quantize": 16 if self.dtype in (torch.float16, torch.bfloat16) else 32}

    def detect(
        self,
        image: Image.Image,
        classes: Sequence[str],
        conf: float | None = None,
        max_boxes: int | None = None,
    ) -> list[Detection]:
        """Boxes of `classes` in `image` (pixel xyxy inside the image), best score first."""
        return self.detect_batch([image], classes, conf, max_boxes)[0]

    def detect_batch(
        self,
        images: Sequence[Image.Image],
        classes: Sequence[str],
        conf: float | None = None,
        max_boxes: int | None = None,
    ) -> list[list[Detection]]:
        """`detect` for several photos in one forward pass. Photos of one size get exactly the boxes
        they get alone (ultralytics letterboxes a batch of equal shapes as it does one photo);
        photos of mixed sizes are all padded to the same square, which moves boxes slightly."""
        vocabulary = tuple(dict.fromkeys(name.strip() for name in classes if name.strip()))
        if not vocabulary or not images:
            return [[] for _ in images]
        conf = self.settings.detector_conf if conf is None else conf
        max_boxes = self.settings.detector_max_boxes if max_boxes is None else max_boxes
        rgb = [image.convert("RGB") for image in images]

        with self._predict_lock:
            loaded = self.loaded
            self._set_classes(loaded, vocabulary)
            results = loaded.yolo.predict(
                rgb,
                conf=conf,
                max_det=max_boxes,
                imgsz=IMAGE_SIZE,
                batch=len(rgb),
                verbose=False,
                **self._setup_options(),
            )
        return [
            _detections(result.boxes, image.size, vocabulary, max_boxes)
            for result, image in zip(results, rgb, strict=True)
        ]

    def unload(self) -> None:
        super().unload()
        if self.text_encoder.text_only:  # a shared encoder belongs to the bundle, not to us
            self.text_encoder.unload()


def _detections(boxes: Any, size: tuple[int, int], vocabulary: tuple[str, ...], max_boxes: int) -> list[Detection]:
    """ultralytics boxes as Detections clipped to the photo, best score first."""
    width, height = size
    detections: list[Detection] = []
    for xyxy, cls, score in zip(boxes.xyxy.tolist(), boxes.cls.tolist(), boxes.conf.tolist(), strict=True):
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        box = (
            min(max(x1, 0.0), width),
            min(max(y1, 0.0), height),
            min(max(x2, 0.0), width),
            min(max(y2, 0.0), height),
        )
        if box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
            continue  # nothing left after clipping
        detections.append(Detection(box=box, label=vocabulary[int(cls)], score=float(score)))
    detections.sort(key=lambda d: d.score, reverse=True)
    return detections[:max_boxes]


__all__ = ["DEFAULT_TEXT_SPEC", "YoloWorldDetector", "import_ultralytics_offline"]
