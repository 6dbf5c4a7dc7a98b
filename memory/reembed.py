"""The SQL of re-embedding views after an encoder change (the network side is worker/domain/reembed.py).

A view is re-embedded by inserting a copy of it (same concept, box, image, negative flag) with the target
encoder's embedding; the old row stays until the end of the run. So "done" needs no bookkeeping
column: a view of a source encoder is done when its concept has a target-encoder view of the same
image, box and flag. That makes a run resumable, and it is how a search knows a scope is ready.

Which encoders are replaced: image-embedding encoders only. Face descriptors ("face:..." ids) live
in the same table and are never re-embedded or removed here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.engine import Engine

from memory.database import translate_unavailable
from memory.types import FACE_ENCODER_PREFIX, is_face_encoder

INSERT_CHUNK = 256  # rows per INSERT statement inside a scope's one transaction


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


def stored_encoders(engine: Engine) -> dict[str, int]:
    """Every encoder id in the views table with its number of views."""
    with translate_unavailable(), engine.connect() as conn:
        rows = conn.execute(text("SELECT encoder, count(*) FROM views GROUP BY encoder ORDER BY encoder")).all()
    return {str(encoder): int(count) for encoder, count in rows}


def source_encoders(engine: Engine, target: str, chosen: Sequence[str] | None = None) -> list[str]:
    """The encoders whose views a run replaces: `chosen`, else every stored image encoder other
    than the target. Face encoders never: they raise ValueError when chosen."""
    faces = [encoder for encoder in chosen or () if is_face_encoder(encoder)]
    if faces:
        raise ValueError(f"{', '.join(faces)} is a face encoder: its views are not re-embedded with an image encoder.")
    if target in (chosen or ()):
        raise ValueError(f"{target} is the encoder being embedded with; it cannot also be replaced.")
    if chosen:
        return sorted(set(chosen))
    return [encoder for encoder in stored_encoders(engine) if encoder != target and not is_face_encoder(encoder)]


def pending_scopes(engine: Engine, target: str, sources: Sequence[str]) -> dict[int, int]:
    """Scope id -> number of its views still to re-embed, in scope id order."""
    if not sources:
        return {}
    query = text(f"SELECT v.scope_id, count(*) {_PENDING} GROUP BY v.scope_id ORDER BY v.scope_id")
    with translate_unavailable(), engine.connect() as conn:
        rows = conn.execute(query, {"sources": list(sources), "target": target}).all()
    return {int(scope_id): int(count) for scope_id, count in rows}


def pending_views(
    engine: Engine, scope_id: int, target: str, sources: Sequence[str], after_id: int, limit: int
) -> list[ViewToEmbed]:
    """The next `limit` views of the scope to re-embed with ids above `after_id` (keyset pages)."""
    query = text(
        f"SELECT v.id, v.concept_id, v.image {_PENDING} AND v.scope_id = :scope AND v.id > :after "
        "ORDER BY v.id LIMIT :limit"
    )
    params = {"sources": list(sources), "target": target, "scope": scope_id, "after": after_id, "limit": limit}
    with translate_unavailable(), engine.connect() as conn:
        rows = conn.execute(query, params).all()
    return [ViewToEmbed(id=int(row.id), concept_id=int(row.concept_id), image=bytes(row.image)) for row in rows]


def add_embedded(
    engine: Engine, scope_id: int, target: str, embedded: Sequence[tuple[int, npt.NDArray[np.float32]]]
) -> int:
    """Store the new embeddings of a scope's views (source view id, unit vector) in ONE transaction,
    so a search of the scope sees all of them or none. Takes the scope's row lock first, as every
    store write does. Returns how many views were added."""
    if not embedded:
        return 0
    dim = int(embedded[0][1].shape[0])
    added = 0
    with translate_unavailable(), engine.begin() as conn:
        locked = conn.execute(text("SELECT id FROM scopes WHERE id = :scope FOR UPDATE"), {"scope": scope_id}).first()
        if locked is None:  # the memory was deleted meanwhile
            return 0
        for start in range(0, len(embedded), INSERT_CHUNK):
            chunk = embedded[start : start + INSERT_CHUNK]
            params: dict[str, Any] = {
                "target": target,
                "dim": dim,
                "scope": scope_id,
                "ids": [view_id for view_id, _ in chunk],
                "vecs": [_vector_text(vec) for _, vec in chunk],
            }
            added += conn.execute(text(_INSERT), params).rowcount
    return added


def remove_replaced(engine: Engine, target: str, sources: Sequence[str]) -> int:
    """Delete the source-encoder views that have their target-encoder copy. A view not re-embedded
    (its scope failed, or it came in after the run began) stays, so nothing becomes unsearchable."""
    if not sources:
        return 0
    query = text(
        "DELETE FROM views v WHERE v.encoder = ANY(:sources) AND EXISTS ("
        " SELECT 1 FROM views t WHERE t.concept_id = v.concept_id AND t.encoder = :target"
        " AND t.negative = v.negative AND t.box IS NOT DISTINCT FROM v.box AND t.image = v.image)"
    )
    with translate_unavailable(), engine.begin() as conn:
        return int(conn.execute(query, {"sources": list(sources), "target": target}).rowcount)


def scopes_awaiting(engine: Engine, scope_ids: Sequence[int], target: str) -> list[int]:
    """Of these scopes, those with image views not yet re-embedded for `target`: a search there
    would miss them, so the memory is still being updated."""
    if not scope_ids:
        return []
    query = text(
        "SELECT s.id FROM unnest(CAST(:scopes AS bigint[])) AS s(id) WHERE EXISTS ("
        " SELECT 1 FROM views v WHERE v.scope_id = s.id AND v.encoder <> :target"
        " AND NOT starts_with(v.encoder, :face) AND NOT EXISTS ("
        "  SELECT 1 FROM views t WHERE t.concept_id = v.concept_id AND t.encoder = :target"
        "  AND t.negative = v.negative AND t.box IS NOT DISTINCT FROM v.box AND t.image = v.image))"
        " ORDER BY s.id"
    )
    params = {"scopes": [int(sid) for sid in scope_ids], "target": target, "face": FACE_ENCODER_PREFIX}
    with translate_unavailable(), engine.connect() as conn:
        return [int(sid) for sid in conn.execute(query, params).scalars()]


def _vector_text(vec: npt.NDArray[np.float32]) -> str:
    """pgvector's text form; a batch job, so the text round trip costs nothing that matters."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vec, dtype=np.float32)) + "]"
