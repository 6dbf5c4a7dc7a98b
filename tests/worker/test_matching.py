"""Which box is the subject of a remembered photo, and which names a question mentions."""

from __future__ import annotations

from model.types import Detection
from worker.matching import mentioned_names, pick_subject


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


def test_names_in_brackets_case_and_unicode_folded_in_text_order() -> None:
    names = ["Bo", "Ｍｏｃｈｉ", "kitchen table"]
    assert mentioned_names("Is <mochi> next to <BO>?", names) == ["Ｍｏｃｈｉ", "Bo"]
    assert mentioned_names("what is on the Kitchen Table", names) == ["kitchen table"]


def test_plain_names_match_whole_words_only() -> None:
    assert mentioned_names("bob and bonnie went out", ["bo"]) == []
    assert mentioned_names("where did bo go?", ["bo"]) == ["bo"]
    assert mentioned_names("bo", ["Bo", "bo"]) == []  # two concepts share the name: brackets needed
    assert mentioned_names("<bo>", ["Bo", "bo"]) == ["Bo"]
