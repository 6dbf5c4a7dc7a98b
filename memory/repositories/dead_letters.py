"""The dead_letters table: requests set aside because they stopped their worker on every delivery."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from memory.models import DeadLetter
from memory.types import DeadLetterInfo


def record(s: Session, request_id: str, method: str, deliveries: int, cause: str) -> None:
    """Record one (once: a request dead-lettered again, e.g. by a redelivery, keeps its first record)."""
    s.execute(
        insert(DeadLetter)
        .values(request_id=request_id, method=method, deliveries=deliveries, cause=cause)
        .on_conflict_do_nothing(index_elements=[DeadLetter.request_id])
    )


def listed(s: Session) -> list[DeadLetterInfo]:
    rows = s.execute(select(DeadLetter).order_by(DeadLetter.id)).scalars()
    return [
        DeadLetterInfo(request_id=r.request_id, method=r.method, deliveries=r.deliveries, cause=r.cause, at=r.at)
        for r in rows
    ]


def count(s: Session) -> int:
    return int(s.execute(select(func.count()).select_from(DeadLetter)).scalar_one())


def clear(s: Session) -> int:
    return int(s.execute(delete(DeadLetter)).rowcount)  # type: ignore[attr-defined]
