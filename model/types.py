"""The values and interfaces every network in model/ offers. worker/ codes against these."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels


@dataclass(frozen=True)
class NetworkSpecs:
    """Which networks a profile runs (model/profiles.py picks them; model/weights.py resolves their weights)."""

    encoder: str  # "open_clip:<model>/<tag>"
    detector: str  # ultralytics weight or yaml
    detector_text: str  # open_clip text encoder for the detector's class names (512-d)
    generator: str  # see model.profiles.build_any_generator


@dataclass(frozen=True)
class Detection:
    box: Box
    label: str
    score: float


@dataclass(frozen=True)
class ConceptRef:
    """A retrieved concept handed to the generator: its reference image, name and info text.
    `box` is where it was found in the query image (None for concepts named only in the text);
    `score` is its retrieval similarity (None when named in the text), used to drop the weakest
    concepts when the context would overflow. `view_id` names the stored reference photo (the
    view's id and a digest of its bytes, see `view_key`): the serving engine encodes a photo with a
    view id once and reuses its features (model/feature_cache.py; vLLM: multi_modal_uuids)."""

    name: str
    info: str
    image: Image.Image
    box: Box | None = None
    score: float | None = None
    view_id: str | None = None


def view_key(view_id: int, image_bytes: bytes) -> str:
    """A stable id of one stored reference photo: its view id and a digest of its bytes, so a
    view whose photo changes (or a database whose ids start again) never reuses old features."""
    return f"{view_id}-{hashlib.blake2b(image_bytes, digest_size=8).hexdigest()}"


@dataclass(frozen=True)
class Generation:
    text: str
    used: list[str]  # concept names that went into the prompt, in prompt order
    dropped: list[str] = field(default_factory=list)  # names dropped to fit the context
    prompt: str = ""  # the exact text prompt (for logs and tests)
    tokens: int = 0  # new tokens generated for this answer
    batch: int = 1  # how many requests shared the batched generation that produced it


@dataclass(frozen=True)
class GenerationRequest:
    """One question for the generator, as the serving engine batches it. `deadline` is a
    time.monotonic() value after which the answer is not wanted (its row stops generating)."""

    image: Image.Image | None
    concepts: Sequence[ConceptRef]
    question: str
    max_new_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    deadline: float | None = None


class ImageEncoder(Protocol):
    encoder_id: str  # stored with every view, e.g. "open_clip:ViT-L-14-336/openai"

    @property
    def dim(self) -> int: ...

    def embed_images(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]: ...

    def embed_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class ObjectDetector(Protocol):
    def detect(
        self,
        image: Image.Image,
        classes: Sequence[str],
        conf: float | None = None,
        max_boxes: int | None = None,
        keep: Sequence[str] | None = None,  # only these of `classes` compete for each box
    ) -> list[Detection]: ...


@dataclass(frozen=True)
class Face:
    """One face found in a photo: where (photo pixels), how sure the detector is, and its unit
    descriptor (model/faces.py)."""

    box: Box
    score: float
    descriptor: npt.NDArray[np.float32]

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(x2 - x1, 0.0) * max(y2 - y1, 0.0)


class FaceFinder(Protocol):
    encoder_id: str  # starts with "face:", stored with every face view

    @property
    def dim(self) -> int: ...

    @property
    def similarity_threshold(self) -> float:  # cosine at or above which two faces are one person
        ...

    def find(self, image: Image.Image) -> list[Face]: ...  # largest first


class ConceptGenerator(Protocol):
    @property
    def max_concepts(self) -> int:  # topK the model was trained for: 2 RAP-LLaVA, 3 RAP-Phi3-V
        ...

    def generate(
        self,
        image: Image.Image | None,
        concepts: Sequence[ConceptRef],
        question: str,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> Generation: ...


@dataclass
class ModelBundle:
    """The three networks of one profile, loaded lazily by each model's own base class, and the
    face finder (None when RAPBOT_FACES=false)."""

    profile: str
    encoder: ImageEncoder
    detector: ObjectDetector
    generator: ConceptGenerator
    faces: FaceFinder | None = None
