"""The scopes table: get-or-create, read, lock, settings, and a user's own scopes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from memory.errors import UnknownScope
from memory.models import Scope
from memory.types import ScopeInfo, ScopeKind, ScopeSettings

GONE = "This memory no longer exists."


def scope_info(row: Scope) -> ScopeInfo:
    return ScopeInfo(
        id=row.id,
        platform=row.platform,
        kind=ScopeKind(row.kind),
        external_id=row.external_id,
        settings=ScopeSettings(
            locked=row.locked, similarity_threshold=row.similarity_threshold, auto_caption=row.auto_caption
        ),
    )


def upsert(s: Session, platform: str, kind: str, external_id: str) -> ScopeInfo:
    """Race-safe get-or-create: INSERT ... ON CONFLICT DO NOTHING, then read."""
    s.execute(
        pg_insert(Scope)
        .values(platform=platform, kind=kind, external_id=external_id)
        .on_conflict_do_nothing(index_elements=["platform", "kind", "external_id"])
    )
    row = s.execute(
        select(Scope).where(Scope.platform == platform, Scope.kind == kind, Scope.external_id == external_id)
    ).scalar_one()
    return scope_info(row)


def find(s: Session, platform: str, kind: str, external_id: str) -> ScopeInfo | None:
    """The scope if it exists; creates nothing."""
    row = s.execute(
        select(Scope).where(Scope.platform == platform, Scope.kind == kind, Scope.external_id == external_id)
    ).scalar_one_or_none()
    return None if row is None else scope_info(row)


def get(s: Session, scope_id: int) -> ScopeInfo:
    row = s.get(Scope, scope_id)
    if row is None:
        raise UnknownScope(GONE)
    return scope_info(row)


def lock(s: Session, scope_id: int) -> ScopeInfo:
    """Lock the scope's row for this transaction: every write to a scope is one serial step."""
    row = s.execute(select(Scope).where(Scope.id == scope_id).with_for_update()).scalar_one_or_none()
    if row is None:
        raise UnknownScope(GONE)
    return scope_info(row)


def update_settings(s: Session, scope_id: int, changes: Mapping[str, object]) -> ScopeInfo:
    row = s.get(Scope, scope_id)
    if row is None:  # pragma: no cover - the caller holds the row's lock
        raise UnknownScope(GONE)
    for field, value in changes.items():
        setattr(row, field, value)
    s.flush()
    return scope_info(row)


def group_ids(platform: str) -> Select[Any]:
    """The ids of the platform's group scopes, as a subquery."""
    return select(Scope.id).where(Scope.platform == platform, Scope.kind == ScopeKind.GROUP.value)


def user_ids(s: Session, platform: str, user_id: str) -> list[int]:
    """The user's own scope ids on the platform (none or one)."""
    query = select(Scope.id).where(
        Scope.platform == platform, Scope.kind == ScopeKind.USER.value, Scope.external_id == user_id
    )
    return list(s.execute(query).scalars())


def delete_ids(s: Session, scope_ids: Sequence[int]) -> None:
    """Delete scopes; their concepts, views and audit rows go with them (ON DELETE CASCADE)."""
    s.execute(delete(Scope).where(Scope.id.in_(list(scope_ids))))
