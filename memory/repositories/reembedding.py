"""The SQL of re-embedding views after an encoder change, on a caller's connection; the rules and the
transactions are memory/reembed.py's, the network side worker/domain/reembed.py's.

A view is re-embedded by inserting a copy of it (same concept, box, image, negative flag) with the target
encoder's embedding; the old row stays until the end of the run. So "done" needs no bookkeeping
column: a view of a source encoder is done when its concept has a target-encoder view of the same
image, box and flag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class ViewToEmbed:
    id: int
    concept_id: int
    image: bytes


# Views of a source encoder whose concept has no target-encoder view of the same image and box yet.
_PENDING = """
    FROM views v
    WHERE v.encoder = ANY(:sources)
      AND NOT EXISTS (
          SELECT 1 FROM views t
          WHERE t.concept_id = v.concept_id AND t.encoder = :target
            AND t.negative = v.negative AND t.box IS NOT DISTINCT FROM v.box AND t.image = v.image
      )
"""

# Copies of the source views with their new embeddings. Joining the source rows (not trusting what
# was read before the embedding) means a view or concept deleted meanwhile is simply not copied;
# DISTINCT ON keeps one copy when two replaced encoders hold the same photo of a concept.
_INSERT = """
    INSERT INTO views (concept_id, scope_id, encoder, dim, embedding, box, image, negative)
    SELECT DISTINCT ON (src.concept_id, src.negative, src.box, md5(src.image))
           src.concept_id, src.scope_id, CAST(:target AS varchar), CAST(:dim AS integer),
           CAST(new.vec AS vector), src.box, src.image, src.negative
    FROM unnest(CAST(:ids AS bigint[]), CAST(:vecs AS text[])) AS new(id, vec)
    JOIN views src ON src.id = new.id AND src.scope_id = :scope
    WHERE NOT EXISTS (
        SELECT 1 FROM views t
        WHERE t.concept_id = src.concept_id AND t.encoder = :target
          AND t.negative = src.negative AND t.box IS NOT DISTINCT FROM src.box AND t.image = src.image
    )
"""


def stored_encoders(conn: Connection) -> dict[str, int]:
    """Every encoder id in the views table with its number of views."""
    rows = conn.execute(text("SELECT encoder, count(*) FROM views GROUP BY encoder ORDER BY encoder")).all()
    return {str(encoder): int(count) for encoder, count in rows}


def pending_scopes(conn: Connection, target: str, sources: Sequence[str]) -> dict[int, int]:
    """Scope id -> number of its views still to re-embed, in scope id order."""
    query = text(f"SELECT v.scope_id, count(*) {_PENDING} GROUP BY v.scope_id ORDER BY v.scope_id")
    rows = conn.execute(query, {"sources": list(sources), "target": target}).all()
    return {int(scope_id): int(count) for scope_id, count in rows}


def pending_views(
    conn: Connection, scope_id: int, target: str, sources: Sequence[str], after_id: int, limit: int
) -> list[ViewToEmbed]:
    """The next `limit` views of the scope to re-embed with ids above `after_id` (keyset pages)."""
    query = text(
        f"SELECT v.id, v.concept_id, v.image {_PENDING} AND v.scope_id = :scope AND v.id > :after "
        "ORDER BY v.id LIMIT :limit"
    )
    params = {"sources": list(sources), "target": target, "scope": scope_id, "after": after_id, "limit": limit}
    rows = conn.execute(query, params).all()
    return [ViewToEmbed(id=int(row.id), concept_id=int(row.concept_id), image=bytes(row.image)) for row in rows]


def lock_scope(conn: Connection, scope_id: int) -> bool:
    """The scope's row lock (every store write takes it first); False: the scope is gone."""
    locked = conn.execute(text("SELECT id FROM scopes WHERE id = :scope FOR UPDATE"), {"scope": scope_id}).first()
    return locked is not None


def insert_embedded(
    conn: Connection, scope_id: int, target: str, embedded: Sequence[tuple[int, npt.NDArray[np.float32]]]
) -> int:
    """Copies of these source views (source view id, unit vector) with their `target` embeddings, in
    one statement. Returns how many were added."""
    if not embedded:
        return 0
    params: dict[str, Any] = {
        "target": target,
        "dim": int(embedded[0][1].shape[0]),
        "scope": scope_id,
        "ids": [view_id for view_id, _ in embedded],
        "vecs": [_vector_text(vec) for _, vec in embedded],
    }
    return int(conn.execute(text(_INSERT), params).rowcount)


def remove_replaced(conn: Connection, target: str, sources: Sequence[str]) -> int:
    """Delete the source-encoder views that have their target-encoder copy."""
    query = text(
        "DELETE FROM views v WHERE v.encoder = ANY(:sources) AND EXISTS ("
        " SELECT 1 FROM views t WHERE t.concept_id = v.concept_id AND t.encoder = :target"
        " AND t.negative = v.negative AND t.box IS NOT DISTINCT FROM v.box AND t.image = v.image)"
    )
    return int(conn.execute(query, {"sources": list(sources), "target": target}).rowcount)


def scopes_awaiting(conn: Connection, scope_ids: Sequence[int], target: str, face_prefix: str) -> list[int]:
    """Of these scopes, those with image views (encoder ids not starting `face_prefix`) that have no
    `target` copy yet."""
    query = text(
        "SELECT s.id FROM unnest(CAST(:scopes AS bigint[])) AS s(id) WHERE EXISTS ("
        " SELECT 1 FROM views v WHERE v.scope_id = s.id AND v.encoder <> :target"
        " AND NOT starts_with(v.encoder, :face) AND NOT EXISTS ("
        "  SELECT 1 FROM views t WHERE t.concept_id = v.concept_id AND t.encoder = :target"
        "  AND t.negative = v.negative AND t.box IS NOT DISTINCT FROM v.box AND t.image = v.image))"
        " ORDER BY s.id"
    )
    params = {"scopes": [int(sid) for sid in scope_ids], "target": target, "face": face_prefix}
    return [int(sid) for sid in conn.execute(query, params).scalars()]


def _vector_text(vec: npt.NDArray[np.float32]) -> str:
    """pgvector's text form; a batch job, so the text round trip costs nothing that matters."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vec, dtype=np.float32)) + "]"
