"""Which other concepts of a memory a concept's own views are closest to (look-alikes)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Exact: the concept's few own views against the memory's other own views of the same encoder, via
# the (scope_id, encoder) btree; unit vectors, so the negated inner product is the cosine.
_CLOSEST_SQL = text(
    """
    SELECT c.name, max(-(o.embedding <#> v.embedding)) AS similarity
    FROM views v
    JOIN views o ON o.scope_id = v.scope_id AND o.encoder = v.encoder AND o.dim = v.dim
                AND o.concept_id <> v.concept_id AND NOT o.negative
    JOIN concepts c ON c.id = o.concept_id
    WHERE v.concept_id = :concept AND v.encoder = :encoder AND NOT v.negative
    GROUP BY c.name
    HAVING max(-(o.embedding <#> v.embedding)) >= :floor
    ORDER BY similarity DESC, c.name
    LIMIT :limit
    """
)


def closest_others(s: Session, concept_id: int, encoder: str, floor: float, limit: int = 3) -> list[tuple[str, float]]:
    rows = s.execute(_CLOSEST_SQL, {"concept": concept_id, "encoder": encoder, "floor": floor, "limit": limit})
    return [(str(name), float(similarity)) for name, similarity in rows]
