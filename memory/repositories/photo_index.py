"""The photo index tables (migration 0007): the per-memory switch, indexed photos, their embeddings
and the concepts recognised in them. SQL only; the rules are in memory/photo_index.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from memory.index_types import FoundPhoto, IndexedVector, IndexSettings, Recognition, SeenConcept
from memory.models import Concept, IndexedEmbedding, IndexedPhoto, IndexedRecognition, PhotoIndexSettings, Scope
from memory.repositories.search import _vector_cursor


def settings(s: Session, scope_id: int) -> IndexSettings:
    row = s.get(PhotoIndexSettings, scope_id)
    if row is None:
        return IndexSettings()
    return IndexSettings(
        enabled=row.enabled, since=row.since, retention_days=row.retention_days, keep_thumbnails=row.keep_thumbnails
    )


def update_settings(s: Session, scope_id: int, changes: Mapping[str, object]) -> IndexSettings:
    """Set the given columns (`since` = now() when `enabled` turns true), creating the row."""
    values: dict[str, Any] = dict(changes)
    if values.get("enabled") is True:
        values["since"] = func.now()
    s.execute(
        pg_insert(PhotoIndexSettings)
        .values(scope_id=scope_id, **values)
        .on_conflict_do_update(index_elements=["scope_id"], set_={**values, "updated_at": func.now()})
    )
    s.expire_all()
    return settings(s, scope_id)


def count(s: Session, scope_id: int) -> int:
    return int(s.execute(select(func.count(IndexedPhoto.id)).where(IndexedPhoto.scope_id == scope_id)).scalar_one())


def for_request(s: Session, scope_id: int, request_id: str) -> int | None:
    query = select(IndexedPhoto.id).where(IndexedPhoto.scope_id == scope_id, IndexedPhoto.request_id == request_id)
    return s.execute(query).scalar_one_or_none()


def insert(
    s: Session,
    scope_id: int,
    posted_by: str,
    location: str,
    size: tuple[int, int],
    thumbnail: bytes | None,
    request_id: str | None,
    vectors: Sequence[IndexedVector],
    recognitions: Sequence[Recognition],
    posted_at: datetime | None = None,
) -> int:
    photo = IndexedPhoto(
        scope_id=scope_id,
        posted_by=posted_by,
        location=location,
        width=size[0],
        height=size[1],
        thumbnail=thumbnail,
        request_id=request_id,
    )
    if posted_at is not None:
        photo.posted_at = posted_at
    s.add(photo)
    s.flush()
    s.add_all(
        IndexedEmbedding(
            photo_id=photo.id,
            scope_id=scope_id,
            kind=vector.kind,
            encoder=vector.encoder,
            dim=int(vector.embedding.shape[0]),
            embedding=vector.embedding,
            box=list(vector.box) if vector.box is not None else None,
        )
        for vector in vectors
    )
    best: dict[int, Recognition] = {}
    for seen in recognitions:  # one row per concept: its best sighting in the photo
        if seen.concept_id not in best or seen.similarity > best[seen.concept_id].similarity:
            best[seen.concept_id] = seen
    s.add_all(
        IndexedRecognition(
            photo_id=photo.id,
            scope_id=scope_id,
            concept_id=seen.concept_id,
            similarity=float(seen.similarity),
            box=list(seen.box) if seen.box is not None else None,
            uncertain=seen.uncertain,
        )
        for seen in best.values()
    )
    s.flush()
    return photo.id


def expire(s: Session, scope_id: int, retention_days: int) -> int:
    """Delete the scope's photos posted more than `retention_days` ago; how many."""
    cutoff = func.now() - func.make_interval(0, 0, 0, int(retention_days))
    query = delete(IndexedPhoto).where(IndexedPhoto.scope_id == scope_id, IndexedPhoto.posted_at < cutoff)
    return len(list(s.execute(query.returning(IndexedPhoto.id)).scalars()))


def delete_all(s: Session, scope_id: int) -> int:
    query = delete(IndexedPhoto).where(IndexedPhoto.scope_id == scope_id).returning(IndexedPhoto.id)
    return len(list(s.execute(query).scalars()))


def delete_posted_by(s: Session, platform: str, user_id: str) -> list[int]:
    """Delete every photo the user posted in any memory of the platform; the scope id of each."""
    on_platform = select(Scope.id).where(Scope.platform == platform)
    query = (
        delete(IndexedPhoto)
        .where(IndexedPhoto.scope_id.in_(on_platform), IndexedPhoto.posted_by == user_id)
        .returning(IndexedPhoto.scope_id)
    )
    return [int(scope_id) for scope_id in s.execute(query).scalars()]


def delete_posted_in(s: Session, scope_id: int, user_id: str) -> int:
    query = (
        delete(IndexedPhoto)
        .where(IndexedPhoto.scope_id == scope_id, IndexedPhoto.posted_by == user_id)
        .returning(IndexedPhoto.id)
    )
    return len(list(s.execute(query).scalars()))


def with_concept(s: Session, scope_id: int, concept_id: int, limit: int) -> list[int]:
    """The photos the concept was recognised in, newest first."""
    query = (
        select(IndexedPhoto.id)
        .join(IndexedRecognition, IndexedRecognition.photo_id == IndexedPhoto.id)
        .where(IndexedPhoto.scope_id == scope_id, IndexedRecognition.concept_id == concept_id)
        .order_by(IndexedPhoto.posted_at.desc(), IndexedPhoto.id.desc())
        .limit(limit)
    )
    return list(s.execute(query).scalars())


def count_with_concept(s: Session, scope_id: int, concept_id: int) -> int:
    query = select(func.count(IndexedRecognition.id)).where(
        IndexedRecognition.scope_id == scope_id, IndexedRecognition.concept_id == concept_id
    )
    return int(s.execute(query).scalar_one())


# Exact per-memory text search: every CLIP embedding (whole photos and crops) of the memory, the
# nearest first. The btree on (scope_id, encoder) narrows to the memory; the scan is exact, as in
# memory/repositories/search.py (unit vectors: the negated inner product is the cosine). A top-N
# sort of the rows (a photo has a whole-photo row and a few crops) is far cheaper than grouping
# every row by photo; the grouped form runs only when the rows did not hold `limit` photos.
_NEAREST_ROWS_SQL = """
    SELECT n.photo_id, -n.distance AS score
    FROM (
        SELECT e.photo_id, e.embedding <#> %(query)b AS distance
        FROM indexed_embeddings e
        WHERE e.scope_id = %(scope)s AND e.encoder = %(encoder)s AND e.dim = %(dim)s AND e.kind <> 'face'
          {only_concept}
    ) AS n
    ORDER BY n.distance, n.photo_id DESC
    LIMIT %(rows)s
"""
_GROUPED_SQL = """
    SELECT e.photo_id, max(-(e.embedding <#> %(query)b)) AS score
    FROM indexed_embeddings e
    WHERE e.scope_id = %(scope)s AND e.encoder = %(encoder)s AND e.dim = %(dim)s AND e.kind <> 'face'
      {only_concept}
    GROUP BY e.photo_id
    ORDER BY score DESC, e.photo_id DESC
    LIMIT %(limit)s
"""
_ONLY_CONCEPT = "AND e.photo_id IN (SELECT r.photo_id FROM indexed_recognitions r WHERE r.concept_id = %(concept)s)"
ROWS_PER_PHOTO = 8  # rows read per photo wanted before falling back to grouping


def rank_by_vector(
    s: Session,
    scope_id: int,
    query: npt.NDArray[np.float32],
    encoder: str,
    limit: int,
    concept_id: int | None = None,
) -> list[tuple[int, float]]:
    """(photo id, best cosine of its embeddings to `query`), best first; only the photos the concept
    was recognised in when one is given."""
    only = _ONLY_CONCEPT if concept_id is not None else ""
    params = {
        "query": np.asarray(query, dtype=np.float32),
        "scope": int(scope_id),
        "encoder": encoder,
        "dim": int(query.shape[0]),
        "limit": int(limit),
        "rows": int(limit) * ROWS_PER_PHOTO,
        "concept": concept_id,
    }
    with _vector_cursor(s) as cursor:
        rows = cursor.execute(_NEAREST_ROWS_SQL.format(only_concept=only), params).fetchall()
        best: dict[int, float] = {}
        for row in rows:  # nearest first: a photo's first row is its best
            best.setdefault(int(row.photo_id), float(row.score))
        if len(best) < limit and len(rows) == params["rows"]:  # many crops per photo: group them all
            rows = cursor.execute(_GROUPED_SQL.format(only_concept=only), params).fetchall()
            best = {int(row.photo_id): float(row.score) for row in rows}
    return list(best.items())[:limit]


def photos(s: Session, photo_ids: Sequence[int], scores: Mapping[int, float] | None = None) -> list[FoundPhoto]:
    """These photos with the concepts recognised in each, in the order of `photo_ids`."""
    if not photo_ids:
        return []
    ids = [int(i) for i in photo_ids]
    rows = {row.id: row for row in s.execute(select(IndexedPhoto).where(IndexedPhoto.id.in_(ids))).scalars()}
    seen: dict[int, list[SeenConcept]] = {}
    query = (
        select(IndexedRecognition.photo_id, Concept.name, IndexedRecognition.similarity, IndexedRecognition.uncertain)
        .join(Concept, Concept.id == IndexedRecognition.concept_id)
        .where(IndexedRecognition.photo_id.in_(ids))
        .order_by(IndexedRecognition.similarity.desc())
    )
    for photo_id, name, similarity, uncertain in s.execute(query):
        seen.setdefault(photo_id, []).append(SeenConcept(name, float(similarity), bool(uncertain)))
    return [
        FoundPhoto(
            id=row.id,
            location=row.location,
            posted_by=row.posted_by,
            posted_at=row.posted_at,
            concepts=seen.get(row.id, []),
            score=(scores or {}).get(row.id),
            thumbnail_jpeg=bytes(row.thumbnail) if row.thumbnail is not None else None,
        )
        for row in (rows.get(i) for i in ids)
        if row is not None
    ]


def posted_by(s: Session, platform: str, user_id: str) -> list[tuple[str, str, FoundPhoto]]:
    """Every photo the user posted on the platform, as (memory kind, chat id, photo), oldest first."""
    query = (
        select(IndexedPhoto.id, Scope.kind, Scope.external_id)
        .join(Scope, Scope.id == IndexedPhoto.scope_id)
        .where(Scope.platform == platform, IndexedPhoto.posted_by == user_id)
        .order_by(IndexedPhoto.id)
    )
    found = s.execute(query).all()
    by_id = {photo.id: photo for photo in photos(s, [row.id for row in found])}
    return [(row.kind, row.external_id, by_id[row.id]) for row in found if row.id in by_id]
