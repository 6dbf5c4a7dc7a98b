"""What an answer shows on the photo: the boxes a grounding answer gives ("<bo> is at [0.57, 0.67,
0.68, 0.84]", read by model/answers.py) in the photo's pixels, labelled with their concept, and the
boxes retrieval found for the concepts the answer does not place itself."""

from __future__ import annotations

from collections.abc import Sequence

from model.answers import grounded_boxes
from worker.schemas import Box, Grounded, Recognised

UNNAMED = "?"  # the label of a box whose concept the answer leaves open


def grounded_in_photo(answer: str, question: str, names: Sequence[str], size: tuple[int, int]) -> list[Grounded]:
    """The answer's boxes in pixels of a photo of `size`, each with its concept's name (or None)."""
    return [Grounded(name=g.name, box=g.in_pixels(size)) for g in grounded_boxes(answer, question, names)]


def boxes_to_draw(recognised: Sequence[Recognised], grounded: Sequence[Grounded]) -> tuple[list[Box], list[str]]:
    """The boxes and labels of the annotated photo: where the answer places a concept wins over where
    retrieval found it (one box per concept, the model's own), then the other recognised concepts."""
    placed = {g.name for g in grounded}
    boxes = [g.box for g in grounded] + [r.box for r in recognised if r.box is not None and r.name not in placed]
    labels = [g.name or UNNAMED for g in grounded] + [
        r.name for r in recognised if r.box is not None and r.name not in placed
    ]
    return boxes, labels
