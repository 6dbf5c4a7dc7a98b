"""An answer's photo is detected with the fixed general vocabulary and the memory's own categories
kept per photo, so photos of different memories share a detection batch; a memory with a category
outside the vocabulary asks for its own list (batched apart)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from model.types import Detection, ModelBundle
from worker.domain.pipeline import Pipeline
from worker.domain.vocabulary import GENERAL_VOCABULARY
from worker.settings import WorkerSettings


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], tuple[str, ...] | None]] = []

    def detect(
        self,
        image: Image.Image,
        classes: Sequence[str],
        conf: float | None = None,
        max_boxes: int | None = None,
        keep: Sequence[str] | None = None,
    ) -> list[Detection]:
        self.calls.append((tuple(classes), None if keep is None else tuple(keep)))
        return [Detection((0.0, 0.0, 5.0, 5.0), (keep or classes)[0], 0.5)]


def pipeline(detector: Any) -> Pipeline:
    bundle = ModelBundle(profile="tiny", encoder=None, detector=detector, generator=None)  # type: ignore[arg-type]
    return Pipeline(store=None, bundle=bundle, settings=WorkerSettings(), pending=None)  # type: ignore[arg-type]


def test_memories_within_the_vocabulary_all_ask_for_it_and_keep_their_own() -> None:
    recorder = Recorder()
    photo = Image.new("RGB", (64, 48))
    found = pipeline(recorder).detect_categories(photo, {"dog", "cat"})
    pipeline(recorder).detect_categories(photo, ["person"])
    assert recorder.calls == [(GENERAL_VOCABULARY, ("cat", "dog")), (GENERAL_VOCABULARY, ("person",))]
    assert found[0].label == "cat"


def test_a_category_of_its_own_asks_for_the_memory_list_and_nothing_asks_for_nothing() -> None:
    recorder = Recorder()
    photo = Image.new("RGB", (64, 48))
    pipeline(recorder).detect_categories(photo, {"dog", "lightsaber"})
    assert recorder.calls == [(("dog", "lightsaber"), None)]
    assert pipeline(recorder).detect_categories(photo, set()) == []
    assert len(recorder.calls) == 1
