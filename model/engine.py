"""The serving engine: ONE request API over the networks for many concurrent callers.

`ServingEngine(bundle, settings)` wraps a profile's networks. Its `bundle` has the same shape as the
raw one (model.types.ModelBundle), so the pipeline calls it as before, but every call becomes a
request to a micro-batcher (model/batching.py) that runs concurrent requests as one forward pass:
- generation: RAPBOT_ENGINE=hf batches `generate` in this process (left padding, each request's own
  images, prompt, budget, temperature and seed); RAPBOT_ENGINE=vllm sends it to a `vllm serve`
  server, which batches continuously itself (model/vllm.py);
- detection: ultralytics predicts a list of photos at once (same class list, same photo size);
- image embedding: CLIP embeds all waiting crops in one batch.
Text embedding (class names, the zero-shot vocabulary) is cached and cheap: it runs directly.

One serving thread per network owns that network, so no caller ever needs a model lock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from model.batching import MicroBatcher, current_deadline
from model.repic import is_repic_spec
from model.settings import ModelSettings
from model.types import (
    ConceptGenerator,
    ConceptRef,
    Detection,
    Generation,
    GenerationRequest,
    ImageEncoder,
    ModelBundle,
    ObjectDetector,
)
from model.vllm import build_vllm_generator
from model.vllm_repic import build_vllm_repic_generator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _DetectRequest:
    image: Image.Image
    classes: tuple[str, ...]
    conf: float | None
    max_boxes: int | None
    keep: tuple[str, ...] | None = None


class _Batching:
    """What the three wrappers share: the wrapped network (its load, unload, ... pass through) and
    one batcher to close."""

    inner: Any
    _batcher: MicroBatcher[Any, Any]

    def close(self) -> None:
        self._batcher.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.inner, name)


class BatchingEncoder(_Batching):
    """An ImageEncoder whose image embeddings are batched across concurrent callers."""

    def __init__(self, encoder: ImageEncoder, max_batch: int, max_wait_s: float) -> None:
        self.inner = encoder
        self.encoder_id = encoder.encoder_id
        self._batcher: MicroBatcher[list[Image.Image], npt.NDArray[np.float32]] = MicroBatcher(
            "embed", self._run, max_batch=max_batch, max_wait_s=max_wait_s
        )

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def batcher(self) -> MicroBatcher[list[Image.Image], npt.NDArray[np.float32]]:
        return self._batcher

    def embed_images(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        if not images:
            return self.inner.embed_images([])
        return self._batcher.run(list(images))

    def embed_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self.inner.embed_texts(texts)

    def _run(self, requests: Sequence[list[Image.Image]]) -> list[npt.NDArray[np.float32]]:
        flat = [image for images in requests for image in images]
        rows = self.inner.embed_images(flat)
        split: list[npt.NDArray[np.float32]] = []
        start = 0
        for images in requests:
            split.append(rows[start : start + len(images)])
            start += len(images)
        return split


class BatchingDetector(_Batching):
    """An ObjectDetector whose photos are detected in batches: requests with the same class list
    share one. The pipeline asks every answer's photo for the same fixed vocabulary and keeps each
    memory's own categories per photo (`keep`, applied before non-maximum suppression), so photos
    of different memories share a batch. Inside it, the detector letterboxes each photo on its own
    (its shape depends only on its aspect ratio: 4:3 photos of any size are 640x480) and runs one
    forward pass per shape, so a photo's boxes never depend on its batch neighbours, and the whole
    batch leaves detection together (its requests then reach generation together)."""

    def __init__(self, detector: ObjectDetector, max_batch: int, max_wait_s: float) -> None:
        self.inner = detector
        self._batcher: MicroBatcher[_DetectRequest, list[Detection]] = MicroBatcher(
            "detect",
            self._run,
            max_batch=max_batch,
            max_wait_s=max_wait_s,
            # Same classes (YOLO-World's class features condition the whole network); a detector
            # without per-photo letterboxing (no `letterbox_shape`) also needs the same photo size.
            key=self._key,
        )

    def _key(self, request: _DetectRequest) -> Hashable:
        own_shapes = callable(getattr(self.inner, "letterbox_shape", None))
        return (request.classes, request.conf, request.max_boxes, None if own_shapes else request.image.size)

    @property
    def batcher(self) -> MicroBatcher[_DetectRequest, list[Detection]]:
        return self._batcher

    def detect(
        self,
        image: Image.Image,
        classes: Sequence[str],
        conf: float | None = None,
        max_boxes: int | None = None,
        keep: Sequence[str] | None = None,
    ) -> list[Detection]:
        wanted = None if keep is None else tuple(keep)
        return self._batcher.run(_DetectRequest(image, tuple(classes), conf, max_boxes, wanted))

    def _run(self, requests: Sequence[_DetectRequest]) -> list[list[Detection]]:
        first = requests[0]
        detect_batch = getattr(self.inner, "detect_batch", None)
        images = [request.image for request in requests]
        keep = [request.keep for request in requests]
        if callable(detect_batch):
            if all(k is None for k in keep):  # what every detector offers
                found: list[list[Detection]] = detect_batch(images, first.classes, first.conf, first.max_boxes)
            else:
                found = detect_batch(images, first.classes, first.conf, first.max_boxes, keep=keep)
            return found
        return [
            self.inner.detect(request.image, first.classes, first.conf, first.max_boxes, keep=request.keep)
            if request.keep is not None
            else self.inner.detect(request.image, first.classes, first.conf, first.max_boxes)
            for request in requests
        ]


class BatchingGenerator(_Batching):
    """A ConceptGenerator whose concurrent `generate` calls run as batched generations."""

    def __init__(
        self, generator: ConceptGenerator, max_batch: int, max_wait_s: float, *, server_batches: bool = False
    ) -> None:
        """`server_batches`: the generator is a server that batches continuously itself (vLLM);
        each caller's request then goes straight to it instead of waiting for a batch to form."""
        self.inner = generator
        self.server_batches = server_batches
        self.tokens = 0  # new tokens generated, for tokens/s figures
        self._tokens_lock = threading.Lock()  # server_batches: callers count from their own threads
        self._batcher: MicroBatcher[GenerationRequest, Generation] = MicroBatcher(
            "generate", self._run, max_batch=max_batch, max_wait_s=max_wait_s
        )

    @property
    def max_concepts(self) -> int:
        return self.inner.max_concepts

    @property
    def batcher(self) -> MicroBatcher[GenerationRequest, Generation]:
        return self._batcher

    def generate(
        self,
        image: Image.Image | None,
        concepts: Sequence[ConceptRef],
        question: str,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> Generation:
        request = GenerationRequest(
            image, list(concepts), question, max_new_tokens, temperature, seed, deadline=current_deadline()
        )
        if self.server_batches:
            (result,) = self._run([request])
            if isinstance(result, BaseException):
                raise result
            return result
        return self._batcher.run(request)

    def _run(self, requests: Sequence[GenerationRequest]) -> Sequence[Generation | BaseException]:
        generate_batch = getattr(self.inner, "generate_batch", None)
        results: Sequence[Generation | BaseException]
        if callable(generate_batch):
            results = generate_batch(list(requests))
        else:  # a backend without batching (or a wrapper in tests): one at a time, same API
            results = [self._one(request) for request in requests]
        with self._tokens_lock:
            self.tokens += sum(r.tokens for r in results if isinstance(r, Generation))
        return [
            Generation(r.text, r.used, r.dropped, r.prompt, r.tokens, batch=len(requests))
            if isinstance(r, Generation)
            else r
            for r in results
        ]

    def _one(self, request: GenerationRequest) -> Generation | BaseException:
        try:
            return self.inner.generate(
                request.image,
                request.concepts,
                request.question,
                max_new_tokens=request.max_new_tokens,
                temperature=request.temperature,
                seed=request.seed,
            )
        except Exception as exc:
            return exc


class ServingEngine:
    """One copy of a profile's networks serving many in-flight requests (see the module doc)."""

    def __init__(self, bundle: ModelBundle, settings: ModelSettings | None = None) -> None:
        settings = settings or ModelSettings()
        self.settings = settings
        self.raw = bundle
        wait = settings.batch_wait_ms / 1000.0
        generator = bundle.generator
        if settings.engine == "vllm":
            spec: str = getattr(generator, "spec", None) or settings.generator or ""
            build = build_vllm_repic_generator if is_repic_spec(spec) else build_vllm_generator
            generator = build(spec, settings)
        self.encoder = BatchingEncoder(bundle.encoder, settings.max_batch, wait)
        self.detector = BatchingDetector(bundle.detector, settings.max_batch, wait)
        self.generator = BatchingGenerator(
            generator,
            settings.max_batch,
            max(wait, settings.generate_wait_ms / 1000.0),
            server_batches=settings.engine == "vllm",
        )
        # Faces are called directly (a fraction of a second each, serialised inside FaceEncoder).
        self.bundle = ModelBundle(
            profile=bundle.profile,
            encoder=self.encoder,
            detector=self.detector,
            generator=self.generator,
            faces=bundle.faces,
        )

    def warm_up(self) -> None:
        """Load every network now (a worker calls it when it starts), not on a user's request."""
        for network in (self.raw.encoder, self.raw.detector, self.raw.generator, self.raw.faces):
            load = getattr(network, "load", None)
            if callable(load):
                load()

    def stats(self) -> dict[str, dict[str, float]]:
        """Cumulative figures per network: batches, requests, mean batch, busy seconds..."""
        generate = self.generator.batcher.stats.as_dict()
        generate["tokens"] = self.generator.tokens
        stats = {
            "generate": generate,
            "detect": self.detector.batcher.stats.as_dict(),
            "embed": self.encoder.batcher.stats.as_dict(),
        }
        # The hf engine's vision tower (model/feature_cache.py); a lazy generator not built yet has none.
        inner = self.generator.inner
        built = getattr(inner, "is_built", True) and not self.generator.server_batches
        vision = getattr(inner, "vision", None) if built else None
        if vision is not None:
            stats["vision"] = vision.as_dict()
        return stats

    def close(self) -> None:
        for part in (self.generator, self.detector, self.encoder):
            part.close()
