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
from model.specs import DEFAULT_TEXT_SPEC
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

IMAGE_SIZE = 640
_STRIDE = 32  # YOLO-World's largest stride: the letterbox pads to multiples of it
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
        _keep_classes_postprocess(yolo.predictor)
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
        keep: Sequence[str] | None = None,
    ) -> list[Detection]:
        """Boxes of `classes` in `image` (pixel xyxy inside the image), best score first. With
        `keep`, the network still looks at all of `classes` (the same forward pass for every
        photo), but only `keep`'s scores compete for each box (see detect_batch)."""
        return self.detect_batch([image], classes, conf, max_boxes, keep=None if keep is None else [keep])[0]

    def detect_batch(
        self,
        images: Sequence[Image.Image],
        classes: Sequence[str],
        conf: float | None = None,
        max_boxes: int | None = None,
        keep: Sequence[Sequence[str] | None] | None = None,
    ) -> list[list[Detection]]:
        """`detect` for several photos in one forward pass. Every photo is letterboxed on its own
        to its own shape (`letterbox_shape`: what ultralytics does to one photo alone), so a photo's
        input, and its boxes, never depend on its batch neighbours; photos of different shapes go
        through in separate passes. `keep` (one entry per photo, None: all `classes`) restricts a
        photo's boxes to some of the classes BEFORE non-maximum suppression: each box takes the
        best of those classes' scores, as if only they had been asked for, while the network ran
        with the whole class list (YOLO-World's class features condition its neck, so scores
        differ a little from a pass with only those classes: docs/worker.md measures it)."""
        vocabulary = tuple(dict.fromkeys(name.strip() for name in classes if name.strip()))
        if not vocabulary or not images:
            return [[] for _ in images]
        conf = self.settings.detector_conf if conf is None else conf
        max_boxes = self.settings.detector_max_boxes if max_boxes is None else max_boxes
        wanted = list(keep) if keep is not None else [None] * len(images)
        if len(wanted) != len(images):
            raise ValueError("detect_batch: one keep entry per photo")
        index = {name: position for position, name in enumerate(vocabulary)}
        kept = [
            None if names is None else sorted({index[n.strip()] for n in names if n.strip() in index})
            for names in wanted
        ]
        found: list[list[Detection]] = [[] for _ in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for position, image in enumerate(images):
            if kept[position] != []:  # nothing of this photo's classes is in the list: no boxes
                groups.setdefault(self.letterbox_shape(image.size), []).append(position)
        with self._predict_lock:
            loaded = self.loaded
            self._set_classes(loaded, vocabulary)
            for positions in groups.values():
                rgb = [images[p].convert("RGB") for p in positions]
                boxed = [self._letterbox(image) for image in rgb]
                predictor = loaded.yolo.predictor
                if predictor is not None:
                    _keep_classes_postprocess(predictor)
                    predictor.rapbot_keep = [kept[p] for p in positions]
                try:
                    results = loaded.yolo.predict(
                        boxed,
                        conf=conf,
                        max_det=max_boxes,
                        imgsz=IMAGE_SIZE,
                        batch=len(boxed),
                        verbose=False,
                        **self._setup_options(),
                    )
                finally:
                    if predictor is not None:
                        predictor.rapbot_keep = None
                for position, result, image, array in zip(positions, results, rgb, boxed, strict=True):
                    boxes = _detections(
                        _unletterbox(result.boxes, array.shape, image.size), image.size, vocabulary, max_boxes
                    )
                    indices = kept[position]
                    if indices is not None:  # already cut before NMS; this only guards a rebuilt predictor
                        names = {vocabulary[i] for i in indices}
                        boxes = [box for box in boxes if box.label in names]
                    found[position] = boxes
        return found

    def letterbox_shape(self, size: tuple[int, int]) -> tuple[int, int]:
        """(height, width) of the network input for a photo of `size` (width, height): ultralytics'
        letterbox of one photo (longest side to 640, the other padded to a multiple of the stride).
        Photos with the same letterbox shape can share a batch and each get their boxes as alone."""
        width, height = size
        ratio = min(IMAGE_SIZE / height, IMAGE_SIZE / width)
        new_width, new_height = round(width * ratio), round(height * ratio)
        stride = _STRIDE
        return (new_height + (IMAGE_SIZE - new_height) % stride, new_width + (IMAGE_SIZE - new_width) % stride)

    def _letterbox(self, image: Image.Image) -> npt.NDArray[np.uint8]:
        """The photo as ultralytics letterboxes it alone (BGR, as its numpy inputs are); passing
        this instead of the photo makes ultralytics' own letterbox of it a no-op."""
        from ultralytics.data.augment import LetterBox

        bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
        boxed: Any = LetterBox((IMAGE_SIZE, IMAGE_SIZE), auto=True, stride=_STRIDE)(image=bgr)
        return np.asarray(boxed, dtype=np.uint8)

    def unload(self) -> None:
        super().unload()
        if self.text_encoder.text_only:  # a shared encoder belongs to the bundle, not to us
            self.text_encoder.unload()


def _keep_classes_postprocess(predictor: Any) -> None:
    """Make `predictor` honour `predictor.rapbot_keep` (per photo: class indices, or None for all):
    each photo's class scores are cut to its own classes before ultralytics' non-maximum
    suppression, which then runs on each photo alone, as it would with only those classes asked."""
    if getattr(predictor, "rapbot_keep_installed", False):
        return
    original = predictor.postprocess

    def postprocess(preds: Any, img: Any, orig_imgs: Any, **kwargs: Any) -> Any:
        keep = getattr(predictor, "rapbot_keep", None)
        if keep is None or all(k is None for k in keep):
            return original(preds, img, orig_imgs, **kwargs)
        import torch
        from ultralytics.utils import nms

        raw = preds[0] if isinstance(preds, list | tuple) else preds
        per_image = []
        for row, indices in enumerate(keep):
            scores = raw[row : row + 1]
            if indices is not None:
                columns = torch.tensor([0, 1, 2, 3, *(4 + i for i in indices)], device=scores.device)
                scores = scores.index_select(1, columns)
            (kept,) = nms.non_max_suppression(
                scores,
                predictor.args.conf,
                predictor.args.iou,
                None,
                predictor.args.agnostic_nms,
                max_det=predictor.args.max_det,
            )
            if indices is not None and len(kept):
                names = torch.tensor(indices, device=kept.device, dtype=kept.dtype)
                kept[:, 5] = names[kept[:, 5].long()]
            per_image.append(kept)
        if not isinstance(orig_imgs, list):
            from ultralytics.utils import ops

            orig_imgs = ops.convert_torch2numpy_batch(orig_imgs)[..., ::-1]
        return predictor.construct_results(per_image, img, orig_imgs)

    predictor.postprocess = postprocess
    predictor.rapbot_keep = None
    predictor.rapbot_keep_installed = True


def _unletterbox(boxes: Any, letterboxed: tuple[int, ...], size: tuple[int, int]) -> Any:
    """Boxes found on a letterboxed photo, in the photo's own pixels: ultralytics' own scale_boxes
    from the network input to the photo (what it does when given the photo itself)."""
    from ultralytics.utils import ops

    xyxy = boxes.xyxy.clone()
    width, height = size
    scaled = ops.scale_boxes((int(letterboxed[0]), int(letterboxed[1])), xyxy, (height, width))
    return _Boxes(scaled, boxes.cls, boxes.conf)


@dataclass
class _Boxes:
    xyxy: Any
    cls: Any
    conf: Any


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
