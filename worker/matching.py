"""Pure decisions of the pipeline, kept apart from the networks: which detected box is the
subject of a remembered photo, and which stored names a question mentions."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from memory.validation import name_key
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


def mentioned_names(text: str, names: Sequence[str]) -> list[str]:
    """Stored names the text mentions, in the order they appear: as `<name>` always, and as a
    plain whole word when exactly one stored concept has that name."""
    folded = name_key(text)
    counts = Counter(name_key(name) for name in names)
    found: dict[str, tuple[int, str]] = {}
    for name in names:
        key = name_key(name)
        if not key or key in found:
            continue
        position = folded.find(f"<{key}>")
        if position < 0 and counts[key] == 1:
            match = re.search(rf"(?<!\w){re.escape(key)}(?!\w)", folded)
            position = match.start() if match else -1
        if position >= 0:
            found[key] = (position, name)
    return [name for _, name in sorted(found.values())]
