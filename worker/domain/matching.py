"""A pure decision of the pipeline, kept apart from the networks: which detected box is the
subject of a remembered photo (which names a question mentions: worker/domain/mentions.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from model.types import Detection


@dataclass(frozen=True)
class Subject:
    """The result of looking for the subject of a photo: one box, several candidates, or none
    (then the whole photo is the subject)."""

    box: Detection | None = None
    candidates: list[Detection] = field(default_factory=list)

    @property
    def strongest(self) -> Detection | None:
        """The subject, or the strongest candidate when no single box dominates."""
        return self.box or (self.candidates[0] if self.candidates else None)


def pick_subject(
    detections: Sequence[Detection], image_size: tuple[int, int], dominance_ratio: float, max_candidates: int
) -> Subject:
    """A box is the subject when its weight (score times area share) beats every other box's by
    `dominance_ratio`; otherwise the strongest boxes become numbered candidates."""
    if not detections:
        return Subject()
    width, height = image_size
    image_area = max(width * height, 1)

    def weight(det: Detection) -> float:
        x1, y1, x2, y2 = det.box
        return det.score * max(x2 - x1, 0.0) * max(y2 - y1, 0.0) / image_area

    ranked = sorted(detections, key=weight, reverse=True)
    if len(ranked) == 1 or weight(ranked[0]) >= dominance_ratio * weight(ranked[1]):
        return Subject(box=ranked[0])
    comparable = [det for det in ranked if weight(det) * dominance_ratio >= weight(ranked[0])]
    return Subject(candidates=comparable[:max_candidates])
