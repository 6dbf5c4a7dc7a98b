"""The concepts table: find by name, pages and name lists, insert, update, delete, copies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from memory import validation as v
from memory.errors import UnknownConcept
from memory.models import Concept, Scope, View
from memory.repositories import scopes
from memory.repositories.scopes import scope_info
from memory.types import FACE_ENCODER_PREFIX, ConceptInfo, ConceptPage, ScopeInfo


def _view_count(negative: bool) -> Any:
    """Its photos (a face view is no photo), or every crop said not to be it (a face included)."""
    which = [View.concept_id == Concept.id, View.negative.is_(negative)]
    if not negative:
        which.append(~View.encoder.startswith(FACE_ENCODER_PREFIX, autoescape=True))
    return select(func.count(View.id)).where(*which).correlate(Concept).scalar_subquery()


def concept_info(row: Any, view_count: int, negative_count: int = 0) -> ConceptInfo:
    """From a Concept row, or any row with the same columns (the search's). `view_count`: its own
    photos; `negative_count`: the crops said not to be it."""
    return ConceptInfo(
        id=row.id,
        scope_id=row.scope_id,
        name=row.name,
        description=row.description,
        category=row.category,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        view_count=int(view_count),
        shared_from=row.shared_from,
        negative_count=int(negative_count),
    )


def _with_counts() -> Select[Any]:
    return select(Concept, _view_count(False), _view_count(True))


def _infos(s: Session, query: Select[Any]) -> list[ConceptInfo]:
    return [concept_info(row, count, negatives) for row, count, negatives in s.execute(query).all()]


def info(s: Session, concept_id: int) -> ConceptInfo:
    row, count, negatives = s.execute(_with_counts().where(Concept.id == concept_id)).one()
    return concept_info(row, count, negatives)


def find(s: Session, scope_id: int, name: str) -> ConceptInfo:
    """The concept of that name (case-folded, NFKC) in the scope, or UnknownConcept."""
    key = v.name_key(name) if isinstance(name, str) else ""
    found = _infos(s, _with_counts().where(Concept.scope_id == scope_id, Concept.normalised_name == key))
    if not found:
        raise UnknownConcept(f'There is no "{v.shorten(str(name))}" in this memory.')
    return found[0]


def for_request(s: Session, scope_id: int, request_id: str) -> int | None:
    """The id of the concept an earlier request with this id made, if any."""
    query = select(Concept.id).where(Concept.scope_id == scope_id, Concept.request_id == request_id)
    return s.execute(query).scalar_one_or_none()


def taken(s: Session, scope_id: int, name: str, exclude: int | None = None) -> tuple[str, bool] | None:
    """The name already in the scope that `name` would clash with, and whether it is the same name
    (case-folded, NFKC) rather than one that only looks the same (TR39 skeleton); None if free."""
    key, skeleton = v.name_key(name), v.name_skeleton(name)
    query = select(Concept.name, Concept.normalised_name).where(
        Concept.scope_id == scope_id, or_(Concept.normalised_name == key, Concept.name_skeleton == skeleton)
    )
    if exclude is not None:
        query = query.where(Concept.id != exclude)
    rows = s.execute(query).all()
    for row in rows:
        if row.normalised_name == key:
            return row.name, True
    return (rows[0].name, False) if rows else None


def count(s: Session, scope_ids: Sequence[int]) -> int:
    query = select(func.count(Concept.id)).where(Concept.scope_id.in_(list(scope_ids)))
    return int(s.execute(query).scalar_one())


def insert(
    s: Session,
    scope_id: int,
    name: str,
    description: str,
    category: str,
    created_by: str,
    request_id: str | None = None,
    shared_from: int | None = None,
) -> int:
    """A new concept with a clean name; returns its id."""
    row = Concept(
        scope_id=scope_id,
        name=name,
        normalised_name=v.name_key(name),
        name_skeleton=v.name_skeleton(name),
        description=description,
        category=category,
        created_by=created_by,
        request_id=request_id,
        shared_from=shared_from,
    )
    s.add(row)
    s.flush()
    return row.id


def update_fields(s: Session, concept_id: int, **fields: object) -> ConceptInfo:
    """Set description, category and/or name (with its keys) and updated_at; the concept after."""
    values = dict(fields)
    name = values.get("name")
    if isinstance(name, str):
        values.update(normalised_name=v.name_key(name), name_skeleton=v.name_skeleton(name))
    s.execute(update(Concept).where(Concept.id == concept_id).values(**values, updated_at=func.now()))
    return info(s, concept_id)


def delete_ids(s: Session, concept_ids: Sequence[int]) -> None:
    """Delete concepts; their views go with them (ON DELETE CASCADE)."""
    s.execute(delete(Concept).where(Concept.id.in_(list(concept_ids))))


def delete_by_author(s: Session, scope_id: int, author: str) -> list[int]:
    query = delete(Concept).where(Concept.scope_id == scope_id, Concept.created_by == author).returning(Concept.id)
    return list(s.execute(query).scalars())


def page(s: Session, scope_id: int, offset: int, limit: int) -> ConceptPage:
    """One page of the scope's concepts, sorted by name."""
    total = count(s, [scope_id])
    items = _infos(
        s,
        _with_counts()
        .where(Concept.scope_id == scope_id)
        .order_by(Concept.normalised_name, Concept.id)
        .offset(offset)
        .limit(limit),
    )
    return ConceptPage(items=items, total=total, offset=offset, limit=limit)


def by_keys(s: Session, scope_ids: Sequence[int], keys: Sequence[str]) -> list[ConceptInfo]:
    """The concepts whose normalised names are among `keys` in these scopes, in no order."""
    query = _with_counts().where(Concept.scope_id.in_(list(scope_ids)), Concept.normalised_name.in_(list(keys)))
    return _infos(s, query)


def all_in(s: Session, scope_ids: Sequence[int]) -> list[ConceptInfo]:
    """Every concept in these scopes, sorted by name."""
    query = _with_counts().where(Concept.scope_id.in_(list(scope_ids))).order_by(Concept.normalised_name, Concept.id)
    return _infos(s, query)


def categories(s: Session, scope_ids: Sequence[int]) -> list[str]:
    query = select(Concept.category).where(Concept.scope_id.in_(list(scope_ids))).distinct()
    return sorted(s.execute(query).scalars())


def contributed(s: Session, platform: str, user_id: str) -> list[int]:
    """The ids of the concepts the user added to the platform's groups."""
    query = select(Concept.id).where(Concept.scope_id.in_(scopes.group_ids(platform)), Concept.created_by == user_id)
    return list(s.execute(query).scalars())


def scopes_of(s: Session, concept_ids: Sequence[int]) -> list[int]:
    query = select(Concept.scope_id).where(Concept.id.in_(list(concept_ids))).distinct()
    return list(s.execute(query).scalars())


def with_scopes(
    s: Session, scope_ids: Sequence[int], concept_ids: Sequence[int]
) -> list[tuple[ConceptInfo, ScopeInfo]]:
    """The concepts in these scopes plus these concepts, each with its scope; by scope, then name."""
    query = (
        select(Concept, _view_count(False), _view_count(True), Scope)
        .join(Scope, Scope.id == Concept.scope_id)
        .where(Concept.scope_id.in_(list(scope_ids)) | Concept.id.in_(list(concept_ids)))
        .order_by(Scope.id, Concept.normalised_name)
    )
    return [(concept_info(row, n, neg), scope_info(scope)) for row, n, neg, scope in s.execute(query).all()]
