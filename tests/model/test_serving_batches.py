"""Batches that fill (docs/worker.md, "Serving: batches that fill"): photos of different memories
and sizes share a detection pass and each still gets the boxes it gets alone; a lone request never
waits for the batch window; the engine reports the vision tower's work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pytest
from PIL import Image

from model.batching import MicroBatcher, request_deadline, requests_in_flight
from model.engine import ServingEngine
from model.settings import ModelSettings
from model.types import Detection, ModelBundle

T = TypeVar("T")
VOCABULARY = ["person", "cat", "dog", "cup", "potted plant", "car", "toy", "bottle", "chair", "flower"]
# Six memories, each with its own categories (all in the vocabulary).
MEMORIES = [["cat"], ["person"], ["cup", "bottle"], ["dog", "cat"], ["person", "flower"], ["toy"]]


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    """Six photos of one aspect ratio (4:3) in three sizes: one letterbox shape."""
    from skimage import data

    arrays = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket(), data.hubble_deep_field(), data.cat()]
    sizes = [(640, 480), (1280, 960), (800, 600), (640, 480), (1024, 768), (800, 600)]
    return [Image.fromarray(a).convert("RGB").resize(size) for a, size in zip(arrays, sizes, strict=True)]


@pytest.fixture
def engine(tiny_models: ModelBundle) -> Iterator[ServingEngine]:
    serving = ServingEngine(tiny_models, ModelSettings(max_batch=6, batch_wait_ms=1000))
    yield serving
    serving.close()


def in_threads(calls: list[Callable[[], T]]) -> list[T]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def same(got: list[Detection], want: list[Detection]) -> None:
    assert [d.label for d in got] == [d.label for d in want]
    for a, b in zip(got, want, strict=True):
        assert np.allclose(a.box, b.box, atol=0.05) and abs(a.score - b.score) < 1e-3


def test_photos_of_different_memories_and_sizes_share_one_detection_pass(
    engine: ServingEngine, tiny_models: ModelBundle, photos: list[Image.Image]
) -> None:
    calls: list[Callable[[], list[Detection]]] = [
        lambda photo=photo, keep=keep: engine.bundle.detector.detect(photo, VOCABULARY, keep=keep)  # type: ignore[misc]
        for photo, keep in zip(photos, MEMORIES, strict=True)
    ]
    batched = in_threads(calls)
    stats = engine.stats()["detect"]
    assert stats["batches"] == 1 and stats["largest"] == 6
    alone = [tiny_models.detector.detect(p, VOCABULARY, keep=k) for p, k in zip(photos, MEMORIES, strict=True)]
    assert any(alone)
    for got, want, keep in zip(batched, alone, MEMORIES, strict=True):
        same(got, want)
        assert {d.label for d in got} <= set(keep)


def test_keep_cuts_classes_before_suppression_not_after(tiny_models: ModelBundle, photos: list[Image.Image]) -> None:
    """A box whose best class is another memory's still counts for this memory's class: keeping
    only `person` finds the person boxes a person-only pass finds, which label filtering of the
    whole vocabulary's boxes loses when another class scores higher."""
    detector = tiny_models.detector
    for photo in photos[:3]:
        own = detector.detect(photo, ["person"])
        kept = detector.detect(photo, VOCABULARY, keep=["person"])
        assert all(d.label == "person" for d in kept)
        assert len(kept) >= len(own) * 0.8


def test_a_photo_letterboxed_alone_gets_the_boxes_ultralytics_gives_it(
    tiny_models: ModelBundle, photos: list[Image.Image]
) -> None:
    from model.detector import IMAGE_SIZE, YoloWorldDetector, _detections

    detector = tiny_models.detector
    assert isinstance(detector, YoloWorldDetector)
    photo = photos[2]
    loaded = detector.loaded
    detector._set_classes(loaded, tuple(VOCABULARY))
    raw = loaded.yolo.predict(
        [photo], conf=0.1, max_det=20, imgsz=IMAGE_SIZE, verbose=False, **detector._setup_options()
    )
    same(detector.detect(photo, VOCABULARY), _detections(raw[0].boxes, photo.size, tuple(VOCABULARY), 20))
    assert detector.letterbox_shape((1280, 960)) == detector.letterbox_shape((640, 480)) == (480, 640)


def test_a_lone_request_never_waits_for_the_batch_window() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher("echo", lambda xs: list(xs), max_batch=8, max_wait_s=2.0)
    try:
        start = time.monotonic()
        with request_deadline(60):
            assert requests_in_flight() >= 1
            assert batcher.run(1) == 1
        assert time.monotonic() - start < 1.0  # not the 2 s window: nobody else is in flight
        # Two requests in flight: the first waits for the second, and they share one batch.
        results: list[int] = []
        arrived = threading.Barrier(2)

        def ask(value: int) -> None:
            with request_deadline(60):
                arrived.wait()
                if value == 2:
                    time.sleep(0.2)
                results.append(batcher.run(value))

        threads = [threading.Thread(target=ask, args=(v,)) for v in (2, 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(results) == [2, 3] and batcher.stats.largest == 2
    finally:
        batcher.close()


def test_the_engine_reports_the_vision_tower(engine: ServingEngine, photos: list[Image.Image]) -> None:
    from tiny_vlms import BO

    engine.bundle.generator.generate(photos[0], [BO], "what is <bo> doing?", max_new_tokens=2, temperature=0)
    vision = engine.stats()["vision"]
    assert vision["images"] >= 1 and vision["calls"] >= 1


def test_a_batch_does_not_wait_for_requests_queued_at_another_stage() -> None:
    """Two requests in flight, one stuck in another network's batch: the other's batch starts at
    once instead of waiting out its window for a request that cannot come soon."""
    release = threading.Event()

    def slow(requests: Sequence[int]) -> list[int]:
        release.wait(10)
        return list(requests)

    other: MicroBatcher[int, int] = MicroBatcher("slow", slow, max_batch=4, max_wait_s=0.0)
    fast: MicroBatcher[int, int] = MicroBatcher("fast", lambda xs: list(xs), max_batch=4, max_wait_s=3.0)
    started = threading.Event()

    def stuck() -> None:
        with request_deadline(60):
            started.set()
            other.run(1)

    thread = threading.Thread(target=stuck)
    thread.start()
    try:
        started.wait(5)
        time.sleep(0.1)  # it is inside the slow batcher now
        begin = time.monotonic()
        with request_deadline(60):
            assert fast.run(2) == 2
        assert time.monotonic() - begin < 1.5  # not the 3 s window
    finally:
        release.set()
        thread.join(10)
        other.close()
        fast.close()
