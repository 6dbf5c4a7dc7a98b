"""The paper's metrics on hand-made cases."""

from __future__ import annotations

import pytest

from training.metrics import (
    aggregate_captions,
    find_mentions,
    normalize_answer,
    parse_yes_no,
    qa_choice,
    score_caption,
    score_qa,
    score_recognition,
)

KNOWN = ["bo", "Zoë the cat", "Mr. Tanaka", "Ana María", "bobo"]


def test_mentions_with_spaces_unicode_and_brackets() -> None:
    text = "<Zoë the cat> naps while ZOË THE CAT's friend mr.  tanaka and <bo> watch; bobo sleeps."
    assert find_mentions(text, KNOWN) == ["Zoë the cat", "Zoë the cat", "Mr. Tanaka", "bo", "bobo"]


def test_decomposed_unicode_matches_composed_name() -> None:
    decomposed = "Ana Mari\u0301a is here"  # "í" as i + combining accent
    assert find_mentions(decomposed, KNOWN) == ["Ana María"]


def test_name_inside_a_word_is_not_a_mention() -> None:
    assert find_mentions("a boat and a bottle", KNOWN) == []


def test_unknown_bracketed_names_count_as_mentions() -> None:
    assert find_mentions("<sks> is next to <bo>", KNOWN) == ["sks", "bo"]


def test_caption_recall_and_precision() -> None:
    score = score_caption("<bo> and <bobo> play with Zoë the cat.", ["bo", "Zoë the cat"], KNOWN)
    assert (score.targets, score.recalled, score.mentions, score.correct_mentions) == (2, 2, 3, 2)
    assert score.recall == 1.0 and score.precision == pytest.approx(2 / 3)


def test_repeated_names_count_each_time_for_precision_once_for_recall() -> None:
    score = score_caption("<bo> and <bo> again, then <bobo>", ["bo", "Mr. Tanaka"], KNOWN)
    assert score.recall == 0.5
    assert score.precision == pytest.approx(2 / 3)


def test_caption_without_names() -> None:
    score = score_caption("A dog on a sofa.", ["bo"], KNOWN)
    assert score.recall == 0.0 and score.precision is None
    none = score_caption("A sofa.", [], KNOWN)
    assert none.recall is None and none.precision is None


def test_aggregate_is_micro_averaged() -> None:
    scores = [
        score_caption("<bo> and <bobo>", ["bo"], KNOWN),  # recall 1/1, precision 1/2
        score_caption("<Mr. Tanaka>", ["Mr. Tanaka", "Ana María", "Zoë the cat"], KNOWN),  # 1/3, 1/1
    ]
    prf = aggregate_captions(scores)
    assert prf.recall == pytest.approx(2 / 4)
    assert prf.precision == pytest.approx(2 / 3)
    assert prf.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    silent = aggregate_captions([score_caption("nothing", ["bo"], KNOWN)])
    assert silent.precision is None and silent.f1 == 0.0
    assert aggregate_captions([]).recall is None


@pytest.mark.parametrize(
    ("answer", "read"),
    [
        ("Yes", "yes"),
        ("yes.", "yes"),
        ("Yes, <bo> is in the photo.", "yes"),
        ("No", "no"),
        ("No, <bo> is not part of this photograph.", "no"),
        ("<bo> is not captured in this image.", "no"),
        ("I recognize <bo>, yes", "yes"),
        ("", "unknown"),
        ("maybe", "unknown"),
    ],
)
def test_yes_no(answer: str, read: str) -> None:
    assert parse_yes_no(answer) == read


def test_recognition_accuracies() -> None:
    score = score_recognition([(True, "Yes"), (True, "No"), (True, "hmm"), (False, "No."), (False, "Yes")])
    assert score.positive == pytest.approx(1 / 3)
    assert score.negative == pytest.approx(1 / 2)
    assert score.weighted == pytest.approx((1 / 3 + 1 / 2) / 2)
    only_pos = score_recognition([(True, "yes")])
    assert only_pos.negative is None and only_pos.weighted == 1.0


def test_release_normalisation() -> None:
    assert normalize_answer("The  Red, Ball!") == "red ball"
    assert normalize_answer("An apple a day") == "apple day"


@pytest.mark.parametrize(
    ("answer", "choice"),
    [
        ("A", "A"),
        ("b", "B"),
        ("(B) white", "B"),
        ("B. White", "B"),
        ("white", "B"),
        ("It is the red ball.", "A"),
        ("A red ball", "A"),
        ("the red ball or white", None),
        ("green", None),
    ],
)
def test_qa_choice(answer: str, choice: str | None) -> None:
    assert qa_choice(answer, {"A": "a red ball", "B": "White"}) == choice


def test_qa_visual_and_text_accuracy() -> None:
    score = score_qa([(True, True), (True, False), (False, True), (False, True)])
    assert (score.visual, score.text, score.weighted) == (0.5, 1.0, 0.75)
