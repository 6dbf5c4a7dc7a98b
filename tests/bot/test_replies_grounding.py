"""How a yes/no answer and a grounding answer read in a reply, on every frontend."""

from __future__ import annotations

from bot import replies
from worker.schemas import AnswerResult, Grounded, Recognised


def test_a_yes_no_answer_says_yes_or_no_first() -> None:
    seen = [Recognised(name="bo", similarity=0.91, box=(0, 0, 5, 5))]
    yes = AnswerResult(text="Yes, <bo> is in the photo.", recognised=seen, yes_no=True)
    assert replies.answer(yes, with_photo=True) == "yes\nYes, <bo> is in the photo.\nrecognised: <bo> 0.91"
    no = AnswerResult(text="<bo> is not captured in this image.", yes_no=False)
    assert replies.answer(no, with_photo=False).splitlines()[0] == "no"
    neither = AnswerResult(text="<bo> is sleeping.")
    assert replies.answer(neither, with_photo=False) == "<bo> is sleeping."


def test_a_grounding_answer_says_what_it_marked_on_the_photo() -> None:
    result = AnswerResult(
        text="<bo> is at [0.57, 0.67, 0.68, 0.84] and [0.1, 0.1, 0.2, 0.2].",
        grounded=[Grounded(name="bo", box=(57, 67, 68, 84)), Grounded(name=None, box=(10, 10, 20, 20))],
    )
    lines = replies.answer(result, with_photo=True).splitlines()
    assert lines[-1] == "marked on the photo: <bo>, a box"
    assert "marked" not in replies.answer(AnswerResult(text="<bo> is sleeping."), with_photo=True)
