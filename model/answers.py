"""Reading a RAP model's answer: the boxes of a grounding answer and the yes/no of a recognition
answer. RAP writes a box as [x1, y1, x2, y2] normalised to 0..1 of the image with two decimals
("[0.57, 0.67, 0.68, 0.84]") and answers "Is <bo> in this image?" with "Yes, <bo> is in the photo."
or "No, <bo> is not in this image." / "<bo> is not captured in this image." (shared/RAP_FACTS.md)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from model.types import Box

_NUMBER = r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*"
_BOX = re.compile(r"\[" + ",".join([_NUMBER] * 4) + r"\]")
_NAME = re.compile(r"<([^<>\n]{1,100})>")
# A polar (yes/no) question starts with an auxiliary verb: "Is <bo> in...", "Do you see...", "Can you
# confirm if...". The released models answer in English, as they were trained.
_POLAR = re.compile(
    r"^\s*(is|are|am|was|were|do|does|did|can|could|will|would|has|have|had|should|may|might)\b", re.IGNORECASE
)
_YES = {"yes", "yeah", "yep", "yup", "true", "correct", "indeed"}
_NO = {"no", "nope", "false"}
# RAP's one trained negative answer that does not start with "No": "<bo> is not captured in this image."
_NAMED_NOT = re.compile(r"^\s*<[^<>]+>\s+(is|are)\s+not\b", re.IGNORECASE)
# Two decimals: a value this far outside 0..1 is rounding, not a wrong box.
_SLACK = 0.005


@dataclass(frozen=True)
class GroundedBox:
    """A box the answer gives, normalised to 0..1 of the image, and the concept it belongs to (None
    when the answer and the question leave that open)."""

    name: str | None
    box: Box

    def in_pixels(self, size: tuple[int, int]) -> Box:
        width, height = size
        x1, y1, x2, y2 = self.box
        return (x1 * width, y1 * height, x2 * width, y2 * height)


def grounded_boxes(answer: str, question: str, names: Sequence[str]) -> list[GroundedBox]:
    """The well-formed boxes in `answer`, in order. A box belongs to the last known `<name>` written
    before it in the answer ("<bo> is at [..] and <mochi> at [..]"); with none, to the one known name
    the question brackets ("Give <bo>'s bounding box"), or to the only concept the model was given.
    A box with a value outside 0..1 or with no area is not a box RAP writes: it is skipped."""
    by_key = {_key(name): name for name in names}
    question_names = list(dict.fromkeys(n for n in (by_key.get(_key(m)) for m in _NAME.findall(question)) if n))
    fallback = question_names[0] if len(question_names) == 1 else (names[0] if len(names) == 1 else None)
    mentions = [(m.start(), by_key.get(_key(m.group(1)))) for m in _NAME.finditer(answer)]
    found: list[GroundedBox] = []
    for match in _BOX.finditer(answer):
        box = _valid_box(tuple(float(v) for v in match.groups()))
        if box is None:
            continue
        before = [name for at, name in mentions if at < match.start() and name is not None]
        found.append(GroundedBox(name=before[-1] if before else fallback, box=box))
    return found


def yes_no(answer: str, question: str) -> bool | None:
    """True or False when `question` asks yes or no and `answer` says which; None otherwise (an open
    question, or an answer that says neither)."""
    if not _POLAR.match(question):
        return None
    words = re.findall(r"\w+", answer.casefold())
    if words and words[0] in _YES:
        return True
    if (words and words[0] in _NO) or _NAMED_NOT.match(answer):
        return False
    return None


def _valid_box(values: tuple[float, ...]) -> Box | None:
    if any(v < -_SLACK or v > 1 + _SLACK for v in values):
        return None
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in values)
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def _key(name: str) -> str:
    # The names' own key (memory/validation.name_key, which model/ may not import): NFKC + case fold.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())
