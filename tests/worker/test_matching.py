"""Which box is the subject of a remembered photo."""

from __future__ import annotations

from model.types import Detection
from worker.domain.matching import pick_subject


def det(box: tuple[float, float, float, float], score: float = 0.9, label: str = "dog") -> Detection:
    return Detection(box=box, label=label, score=score)


def test_one_clearly_dominant_box_is_the_subject() -> None:
    big, small = det((0, 0, 80, 80)), det((0, 0, 10, 10), label="cup")
    assert pick_subject([small, big], (100, 100), 2.0, 6).box == big


def test_comparable_boxes_become_candidates_strongest_first() -> None:
    left, right, tiny = det((0, 0, 40, 40), 0.8), det((50, 50, 95, 95), 0.9), det((0, 0, 5, 5))
    subject = pick_subject([left, tiny, right], (100, 100), 2.0, 6)
    assert subject.box is None and subject.candidates == [right, left]
    assert len(pick_subject([left] * 9, (100, 100), 2.0, 3).candidates) == 3


def test_no_box_means_the_whole_photo() -> None:
    subject = pick_subject([], (100, 100), 2.0, 6)
    assert subject.box is None and subject.candidates == []
