"""People by face: dlib's pretrained face networks (the `face-recognition-models` package, CC0
weights, installed from the package registry): a HOG frontal face detector, the 5-point landmark
predictor that aligns each face, and the ResNet that turns an aligned face into a 128-d descriptor.

Why HOG rather than dlib's CNN (mmod) detector: measured on the 2-core development CPU, the CNN
takes 3 s on a 512x512 photo and 10 s on a 1280x720 one (dlib-bin has no CUDA, so a GPU machine is
no faster), while HOG takes 0.04-0.13 s at upsample 0 and 0.28-0.56 s at upsample 1, and found the
same faces on the photos the tests use. Upsample 1 finds faces down to ~40 px (bus.jpg's passengers).

Descriptors leave here L2-normalised, because the store compares unit vectors by inner product
(cosine). dlib's own rule is a euclidean distance under 0.6 between raw descriptors; raw descriptors
of real faces have norms of 1.42-1.46 (measured), so for two descriptors of norm n the distance d
is n * sqrt(2 - 2 cos), and 0.6 becomes cos >= 1 - 0.6^2 / (2 * 1.43^2) = 0.912
(`similarity_for_distance`)."""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from model.base import InferenceModel
from model.bounds import fit_within
from model.settings import ModelSettings
from model.types import Box, Face

# Face encoder ids start with "face:" so that code handling image-embedding encoders (re-embedding
# after a CLIP change, photo counts) can tell face descriptors apart by name alone.
FACE_ENCODER_PREFIX = "face:"
FACE_ENCODER_ID = f"{FACE_ENCODER_PREFIX}dlib_resnet_v1"
FACE_DIM = 128
# The median norm of raw dlib descriptors of real faces (measured 1.42-1.46): converts dlib's
# euclidean same-person distance into the cosine the store ranks by.
TYPICAL_DESCRIPTOR_NORM = 1.43
_CHIP_SIZE = 150  # dlib's aligned face chip, as its ResNet was trained on
_CHIP_PADDING = 0.25
_MIN_SIDE = 20  # smaller images cannot hold a face HOG finds (its window is 80 px, 40 upsampled)

_WEIGHT_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
}


def is_face_encoder(encoder_id: str) -> bool:
    return encoder_id.startswith(FACE_ENCODER_PREFIX)


def similarity_for_distance(distance: float, norm: float = TYPICAL_DESCRIPTOR_NORM) -> float:
    """The cosine similarity of two descriptors of norm `norm` that lie `distance` apart."""
    return 1.0 - distance**2 / (2.0 * norm**2)


def weights_dir() -> Path:
    """Where face-recognition-models keeps its .dat files. Found without importing the package:
    its __init__ does `from pkg_resources import ...`, which fails with setuptools >= 82."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "Face recognition needs the face-recognition-models package (pip install "
            "face-recognition-models==0.3.0), or set RAPBOT_FACES=false."
        )
    return Path(spec.origin).parent / "models"


def weight_paths() -> dict[str, Path]:
    """The face networks' files; they come with the face-recognition-models package (pip), not the
    model directory, so `rapbot models pull` never fetches them."""
    folder = weights_dir()
    return {name: folder / file for name, file in _WEIGHT_FILES.items()}


@dataclass
class LoadedFaces:
    detector: Any  # dlib.fhog_object_detector
    landmarks: Any  # dlib.shape_predictor
    descriptor: Any  # dlib.face_recognition_model_v1


class FaceEncoder(InferenceModel[LoadedFaces]):
    """`find(image)`: every face HOG finds at least `face_min_score` sure of, largest first, each
    with its descriptor. dlib's networks keep working buffers inside them, so calls are serialised
    (faces cost a fraction of a second; no batching needed)."""

    name = "faces dlib"
    encoder_id = FACE_ENCODER_ID

    def __init__(self, settings: ModelSettings | None = None) -> None:
        self.settings = settings or ModelSettings()
        super().__init__("cpu")  # dlib-bin runs on the CPU only
        self._run_lock = threading.Lock()

    @property
    def dim(self) -> int:
        return FACE_DIM

    @property
    def similarity_threshold(self) -> float:
        """The cosine at or above which two faces are the same person (RAPBOT_FACE_MAX_DISTANCE)."""
        return similarity_for_distance(self.settings.face_max_distance)

    def _load(self) -> LoadedFaces:
        import dlib

        folder = weights_dir()
        return LoadedFaces(
            detector=dlib.get_frontal_face_detector(),
            landmarks=dlib.shape_predictor(str(folder / _WEIGHT_FILES["landmarks"])),
            descriptor=dlib.face_recognition_model_v1(str(folder / _WEIGHT_FILES["descriptor"])),
        )

    def find(self, image: Image.Image) -> list[Face]:
        if min(image.size) < _MIN_SIDE:
            return []
        import dlib

        loaded = self.loaded
        # HOG's cost grows with the pixels (x4 upsampled): look at a bounded copy, map boxes back.
        small = fit_within(image if image.mode == "RGB" else image.convert("RGB"), self.settings.face_max_side)
        scale = image.width / small.width
        pixels = np.asarray(small)
        with self._run_lock:
            rects, scores, _ = loaded.detector.run(pixels, self.settings.face_upsample, 0.0)
            found = [(rect, float(score)) for rect, score in zip(rects, scores, strict=True)]
            found = [(rect, score) for rect, score in found if score >= self.settings.face_min_score]
            if not found:
                return []
            chips = [
                dlib.get_face_chip(pixels, loaded.landmarks(pixels, rect), _CHIP_SIZE, _CHIP_PADDING)
                for rect, _ in found
            ]
            raw = np.asarray(loaded.descriptor.compute_face_descriptor(chips), dtype=np.float32)
        descriptors = raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
        faces = [
            Face(box=_photo_box(rect, scale, image.size), score=score, descriptor=descriptor.astype(np.float32))
            for (rect, score), descriptor in zip(found, descriptors, strict=True)
        ]
        return sorted(faces, key=lambda face: face.area, reverse=True)


def _photo_box(rect: Any, scale: float, size: tuple[int, int]) -> Box:
    """A dlib rectangle on the bounded copy as a box in the photo's pixels, clipped to the photo
    (HOG may place a face partly outside it)."""
    width, height = size
    x1 = min(max(rect.left() * scale, 0.0), float(width))
    y1 = min(max(rect.top() * scale, 0.0), float(height))
    x2 = min(max((rect.right() + 1) * scale, 0.0), float(width))
    y2 = min(max((rect.bottom() + 1) * scale, 0.0), float(height))
    return (x1, y1, x2, y2)
