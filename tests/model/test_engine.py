"""The serving engine over the tiny profile's real networks: requests from many threads are
batched (detection, embedding, generation) and each caller gets what it would get alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import pytest
from PIL import Image

from model.engine import ServingEngine
from model.settings import ModelSettings
from model.types import ModelBundle

T = TypeVar("T")
CLASSES = ["cat", "person", "cup", "dog", "potted plant"]


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """Six different photos of one size, as a chat app sends them (Telegram: 1280 px long side)."""
    from skimage import data

    arrays = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket(), data.hubble_deep_field(), data.cat()]
    return [Image.fromarray(array).convert("RGB").resize((640, 480)) for array in arrays]


@pytest.fixture
def engine(tiny_models: ModelBundle) -> Iterator[ServingEngine]:
    # A long window and a batch of 6: six concurrent callers deterministically share one batch.
    serving = ServingEngine(tiny_models, ModelSettings(max_batch=6, batch_wait_ms=1000))
    yield serving
    serving.close()


def in_threads(calls: list[Callable[[], T]]) -> list[T]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_concurrent_detections_share_a_batch_and_find_what_they_find_alone(
    engine: ServingEngine, tiny_models: ModelBundle, images: list[Image.Image]
) -> None:
    batched = in_threads([lambda image=image: engine.bundle.detector.detect(image, CLASSES) for image in images])
    alone = [tiny_models.detector.detect(image, CLASSES) for image in images]
    assert engine.stats()["detect"]["largest"] == 6
    assert any(alone)  # the calibrated tiny detector finds boxes in these photos
    for got, expected in zip(batched, alone, strict=True):
        assert [d.label for d in got] == [d.label for d in expected]
        for a, b in zip(got, expected, strict=True):
            assert np.allclose(a.box, b.box, atol=0.05) and abs(a.score - b.score) < 1e-3


def test_photos_of_other_sizes_share_a_batch_and_find_what_they_find_alone(
    engine: ServingEngine, tiny_models: ModelBundle, images: list[Image.Image]
) -> None:
    sizes = [(640, 480), (480, 640), (640, 480), (300, 300), (480, 640), (640, 480)]
    mixed = [image.resize(size) for image, size in zip(images, sizes, strict=True)]
    batched = in_threads([lambda image=image: engine.bundle.detector.detect(image, CLASSES) for image in mixed])
    alone = [tiny_models.detector.detect(image, CLASSES) for image in mixed]
    assert [[d.label for d in found] for found in batched] == [[d.label for d in found] for found in alone]
    stats = engine.stats()["detect"]
    # One batch (the detector runs one forward pass per letterbox shape inside it, each photo
    # letterboxed alone), so the six requests leave detection together.
    assert stats["batches"] == 1 and stats["largest"] == 6


def test_different_class_lists_are_never_mixed(engine: ServingEngine, images: list[Image.Image]) -> None:
    lists = [CLASSES if i % 2 else ["bicycle", "rocket"] for i in range(6)]
    calls: list[Callable[[], Any]] = [
        lambda image=image, classes=classes: engine.bundle.detector.detect(image, classes)
        for image, classes in zip(images, lists, strict=True)
    ]
    results = in_threads(calls)
    for found, classes in zip(results, lists, strict=True):
        assert all(d.label in classes for d in found)
    assert engine.stats()["detect"]["batches"] == 2


def test_concurrent_embeddings_share_a_batch_and_equal_their_own(
    engine: ServingEngine, tiny_models: ModelBundle, images: list[Image.Image]
) -> None:
    crops = [[image] if i % 2 else [image, image.crop((0, 0, 64, 64))] for i, image in enumerate(images)]
    batched = in_threads([lambda crop=crop: engine.bundle.encoder.embed_images(crop) for crop in crops])
    for got, crop in zip(batched, crops, strict=True):
        assert got.shape == (len(crop), 768)
        assert np.allclose(got, tiny_models.encoder.embed_images(crop), atol=1e-5)
    assert engine.stats()["embed"]["largest"] == 6


def test_concurrent_questions_are_one_batched_generation_with_their_own_answers(
    engine: ServingEngine, tiny_models: ModelBundle, images: list[Image.Image]
) -> None:
    from model.types import ConceptRef

    mochi = ConceptRef("mochi", "my cat, loves sardines", images[0], score=0.9)
    asks = [
        (images[i] if i % 2 else None, [mochi] if i < 3 else [], f"question {i}: what is <mochi> doing?")
        for i in range(6)
    ]
    batched = in_threads(
        [
            lambda a=a, i=i: engine.bundle.generator.generate(a[0], a[1], a[2], max_new_tokens=6 + i, temperature=0)
            for i, a in enumerate(asks)
        ]
    )
    alone = [
        tiny_models.generator.generate(a[0], a[1], a[2], max_new_tokens=6 + i, temperature=0)
        for i, a in enumerate(asks)
    ]
    assert [g.text for g in batched] == [g.text for g in alone]
    assert all(g.batch == 6 for g in batched) and all(g.batch == 1 for g in alone)
    stats = engine.stats()["generate"]
    assert stats["batches"] == 1 and stats["tokens"] == sum(g.tokens for g in batched)
