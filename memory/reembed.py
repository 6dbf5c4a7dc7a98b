"""The rules of re-embedding views after an encoder change (the network side is worker/domain/reembed.py,
the SQL memory/repositories/reembedding.py).

Which encoders are replaced: image-embedding encoders only. Face descriptors ("face:..." ids) live
in the same table and are never re-embedded or removed here. A view is re-embedded by inserting a
copy with the target encoder's embedding; "done" is a view whose copy exists, so a run is resumable,
and it is how a search knows a scope is ready (MemoryStore.awaiting_reembed). A scope's new views
are committed in ONE transaction under its row lock, so a search of the scope sees all of them or none;
the replaced views go at the end of the run, and only those that have their copy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Engine

from memory.database import translate_unavailable
from memory.repositories import reembedding
from memory.repositories.reembedding import ViewToEmbed
from memory.types import is_face_encoder

__all__ = [
    "INSERT_CHUNK",
    "ViewToEmbed",
    "add_embedded",
    "pending_scopes",
    "pending_views",
    "remove_replaced",
    "source_encoders",
    "stored_encoders",
]

INSERT_CHUNK = 256  # rows per INSERT statement inside a scope's one transaction


def stored_encoders(engine: Engine) -> dict[str, int]:
    """Every encoder id in the views table with its number of views."""
    with translate_unavailable(), engine.connect() as conn:
        return reembedding.stored_encoders(conn)


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
    with translate_unavailable(), engine.connect() as conn:
        return reembedding.pending_scopes(conn, target, sources)


def pending_views(
    engine: Engine, scope_id: int, target: str, sources: Sequence[str], after_id: int, limit: int
) -> list[ViewToEmbed]:
    """The next `limit` views of the scope to re-embed with ids above `after_id` (keyset pages)."""
    with translate_unavailable(), engine.connect() as conn:
        return reembedding.pending_views(conn, scope_id, target, sources, after_id, limit)


def add_embedded(
    engine: Engine, scope_id: int, target: str, embedded: Sequence[tuple[int, npt.NDArray[np.float32]]]
) -> int:
    """Store the new embeddings of a scope's views (source view id, unit vector) in ONE transaction,
    so a search of the scope sees all of them or none. Takes the scope's row lock first, as every
    store write does. Returns how many views were added."""
    if not embedded:
        return 0
    added = 0
    with translate_unavailable(), engine.begin() as conn:
        if not reembedding.lock_scope(conn, scope_id):  # the memory was deleted meanwhile
            return 0
        for start in range(0, len(embedded), INSERT_CHUNK):
            added += reembedding.insert_embedded(conn, scope_id, target, embedded[start : start + INSERT_CHUNK])
    return added


def remove_replaced(engine: Engine, target: str, sources: Sequence[str]) -> int:
    """Delete the source-encoder views that have their target-encoder copy. A view not re-embedded
    (its scope failed, or it came in after the run began) stays, so nothing becomes unsearchable."""
    if not sources:
        return 0
    with translate_unavailable(), engine.begin() as conn:
        return reembedding.remove_replaced(conn, target, sources)
