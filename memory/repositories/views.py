"""The views table: one reference image of a concept with its embedding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from memory.models import View
from memory.types import ViewInfo


def view_info(row: View) -> ViewInfo:
    box = tuple(row.box) if row.box is not None else None
    return ViewInfo(
        id=row.id,
        concept_id=row.concept_id,
        encoder=row.encoder,
        box=box,  # type: ignore[arg-type]
        image_jpeg=bytes(row.image),
        created_at=row.created_at,
        negative=row.negative,
    )


def insert(
    s: Session,
    concept_id: int,
    scope_id: int,
    vec: npt.NDArray[np.float32],
    encoder: str,
    box: list[float] | None,
    image: bytes,
    request_id: str | None = None,
    negative: bool = False,
) -> None:
    """`negative`: a crop the user said is NOT this concept (only a veto in search)."""
    s.add(
        View(
            concept_id=concept_id,
            scope_id=scope_id,
            encoder=encoder,
            dim=int(vec.shape[0]),
            embedding=vec,
            box=box,
            image=bytes(image),
            request_id=request_id,
            negative=negative,
        )
    )
    s.flush()


def of_concepts(s: Session, concept_ids: Sequence[int], negative: bool | None = None) -> list[ViewInfo]:
    """The views of these concepts, oldest first: all, or only the negative (or own) ones."""
    query = select(View).where(View.concept_id.in_(list(concept_ids))).order_by(View.id)
    if negative is not None:
        query = query.where(View.negative.is_(negative))
    return [view_info(row) for row in s.execute(query).scalars()]


def encodings(s: Session, concept_id: int) -> list[tuple[str, int, bool]]:
    """(encoder, dim, negative) of each of the concept's views."""
    query = select(View.encoder, View.dim, View.negative).where(View.concept_id == concept_id)
    return [(row.encoder, row.dim, row.negative) for row in s.execute(query)]


def stored_dim(s: Session, scope_ids: Sequence[int], encoder: str) -> int | None:
    """The dimension of the encoder's embeddings in these scopes, if any are stored."""
    query = select(View.dim).where(View.scope_id.in_(list(scope_ids)), View.encoder == encoder).limit(1)
    return s.execute(query).scalar_one_or_none()


def concept_for_request(s: Session, scope_id: int, request_id: str) -> int | None:
    """The concept an earlier add_view with this request id added to, if any."""
    query = select(View.concept_id).where(View.scope_id == scope_id, View.request_id == request_id)
    return s.execute(query).scalar_one_or_none()


def holding(s: Session, concept_id: int, image: bytes, vec: npt.NDArray[np.float32]) -> bool | None:
    """Whether the concept already has this very view (same image bytes and embedding): None if not,
    else whether that view is a negative one."""
    same = select(View.embedding, View.negative).where(View.concept_id == concept_id, View.image == image)
    for stored in s.execute(same).all():
        if np.array_equal(np.asarray(stored.embedding, dtype=np.float32), vec):
            return bool(stored.negative)
    return None


def copy(s: Session, from_concept_id: int, to_concept_id: int, to_scope_id: int) -> None:
    """Copy every view of one concept to another, in order, in one statement."""
    columns = (View.encoder, View.dim, View.embedding, View.box, View.image, View.negative)
    s.execute(
        pg_insert(View).from_select(
            ["concept_id", "scope_id", "encoder", "dim", "embedding", "box", "image", "negative"],
            select(literal(to_concept_id), literal(to_scope_id), *columns)
            .where(View.concept_id == from_concept_id)
            .order_by(View.id),
        )
    )


def encoders(s: Session, scope_ids: Sequence[int]) -> list[str]:
    query = select(View.encoder).where(View.scope_id.in_(list(scope_ids))).distinct()
    return sorted(s.execute(query).scalars())


def count(s: Session, scope_ids: Sequence[int], concept_ids: Sequence[int]) -> int:
    """The views in these scopes plus those of these concepts."""
    query = select(func.count(View.id)).where(
        View.scope_id.in_(list(scope_ids)) | View.concept_id.in_(list(concept_ids))
    )
    return int(s.execute(query).scalar_one())
