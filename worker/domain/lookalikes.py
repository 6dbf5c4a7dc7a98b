"""Look-alikes: concepts of one memory that score within a margin of each other on the same crop
are both named, as uncertain, instead of one being picked (docs/index.md, "Look-alikes")."""

from __future__ import annotations

from collections.abc import Sequence

from memory.types import SearchHit
from worker.domain.learning import vetoed

# Measured with the real face weights in bench/faces.py: copies of one face spread over 0.011, the
# closest other person scores 0.164 lower.
LOOKALIKE_MARGIN = 0.02


def lookalike_groups(hits: Sequence[SearchHit], thresholds: dict[int, float]) -> list[list[str]]:
    """From per-crop hits (MemoryStore.search pooled=False): the names of the concepts that scored
    within LOOKALIKE_MARGIN of the best one on the same crop, each group best first, once."""
    rows: dict[int, list[SearchHit]] = {}
    for hit in hits:
        if hit.similarity >= thresholds.get(hit.concept.scope_id, 1.0) and not vetoed(hit):
            rows.setdefault(hit.query_index, []).append(hit)
    groups: list[list[str]] = []
    for row in rows.values():
        row.sort(key=lambda hit: hit.similarity, reverse=True)
        names = [row[0].concept.name]
        names += [hit.concept.name for hit in row[1:] if row[0].similarity - hit.similarity <= LOOKALIKE_MARGIN]
        names = list(dict.fromkeys(names))
        if len(names) > 1 and sorted(names) not in [sorted(group) for group in groups]:
            groups.append(names)
    return groups
