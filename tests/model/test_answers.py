"""Reading RAP answers: the boxes of grounding answers and the yes/no of recognition answers, on
hand-written answers in the forms the released models write (shared/RAP_FACTS.md)."""

from __future__ import annotations

import pytest

from model.answers import GroundedBox, grounded_boxes, yes_no

GROUNDING_Q = "Give <bo>'s bounding box in the image."


def test_a_grounding_answer_gives_the_questions_concept_its_box() -> None:
    assert grounded_boxes("[0.57, 0.67, 0.68, 0.84]", GROUNDING_Q, ["bo", "mochi"]) == [
        GroundedBox(name="bo", box=(0.57, 0.67, 0.68, 0.84))
    ]
    # The same box written in a sentence, without spaces, or with integers at the edges.
    assert grounded_boxes("<bo> is at [0.1,0.2,0.3,0.4].", "Where is he?", ["bo"])[0].box == (0.1, 0.2, 0.3, 0.4)
    assert grounded_boxes("[0, 0.25, 1, 1.0]", GROUNDING_Q, ["bo"])[0].box == (0.0, 0.25, 1.0, 1.0)


def test_each_box_belongs_to_the_name_written_before_it() -> None:
    answer = "<Mochi> is at [0.10, 0.20, 0.30, 0.40] and <bo> is at [0.50, 0.55, 0.90, 0.95]."
    found = grounded_boxes(answer, "Where are <bo> and <mochi>?", ["bo", "Mochi"])
    assert [(g.name, g.box) for g in found] == [("Mochi", (0.1, 0.2, 0.3, 0.4)), ("bo", (0.5, 0.55, 0.9, 0.95))]


def test_a_box_whose_concept_is_open_has_no_name() -> None:
    # Two concepts asked about, no name in the answer: which one is not known.
    assert grounded_boxes("[0.1, 0.2, 0.3, 0.4]", "Where are <bo> and <mochi>?", ["bo", "mochi"])[0].name is None
    # A name the model was not given (a hallucinated one) does not claim the box.
    assert grounded_boxes("<rex> [0.1, 0.2, 0.3, 0.4]", "Where is it?", ["bo", "mochi"])[0].name is None
    # One concept in the prompt: the box is its.
    assert grounded_boxes("It is here: [0.1, 0.2, 0.3, 0.4]", "Where is it?", ["bo"])[0].name == "bo"


@pytest.mark.parametrize(
    "answer",
    [
        "[1.57, 0.67, 0.68, 0.84]",  # out of range
        "[0.57, -0.2, 0.68, 0.84]",  # negative
        "[0.68, 0.67, 0.57, 0.84]",  # x2 before x1
        "[0.57, 0.67, 0.68, 0.67]",  # no height
        "[0.57, 0.67, 0.68]",  # three numbers
        "[0.57, 0.67, 0.68, 0.84, 0.9]",  # five numbers
        "[0.57, 0.67, 0.68, 0.84",  # not closed
        "[a, b, c, d]",
        "[57, 67, 68, 84]",  # pixels or percent, not RAP's form
        "(0.57, 0.67, 0.68, 0.84)",
        "<bo> is sitting on the sofa.",
        "",
    ],
)
def test_malformed_or_out_of_range_boxes_are_not_read(answer: str) -> None:
    assert grounded_boxes(answer, GROUNDING_Q, ["bo"]) == []


def test_two_decimal_rounding_past_the_edge_is_kept_inside_the_image() -> None:
    assert grounded_boxes("[0.0, 0.5, 1.004, 1.0]", GROUNDING_Q, ["bo"])[0].box == (0.0, 0.5, 1.0, 1.0)


def test_boxes_in_pixels_of_the_photo() -> None:
    box = GroundedBox(name="bo", box=(0.5, 0.25, 1.0, 0.75))
    assert box.in_pixels((200, 100)) == (100.0, 25.0, 200.0, 75.0)


@pytest.mark.parametrize(
    ("question", "answer", "expected"),
    [
        ("Is <bo> in this image?", "Yes, <bo> is in the photo.", True),
        ("Is <bo> in this image? Answer with a single word or phrase.", "Yes", True),
        ("Do you see <bo> in the photo?", "yes.", True),
        ("Can you confirm if <bo> appears in this photo?", "No, <bo> is not visible in this picture.", False),
        ("Is <bo> captured in this image?", "<bo> is not captured in this image.", False),
        ("Does the picture feature <bo>?", "NO", False),
        ("is bo here?", "Nope.", False),
        # Not a yes/no question, or an answer that says neither: no yes/no.
        ("What is <bo> doing?", "No idea, <bo> is sleeping.", None),
        ("Give a personalized caption of this image.", "Yes, <bo> is playing.", None),
        ("Is <bo> shiny or matte?", "<bo> is matte.", None),
        ("Is <bo> in this image?", "<bo> is chasing a ball.", None),
        ("Is <bo> in this image?", "", None),
        ("Is <bo> in this image?", "Yesterday <bo> was here.", None),
    ],
)
def test_yes_no_of_recognition_answers(question: str, answer: str, expected: bool | None) -> None:
    assert yes_no(answer, question) is expected
