"""The audit_events table: record an action, read the latest, scrub an erased member."""

from __future__ import annotations

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from memory.models import AuditEvent
from memory.repositories import scopes
from memory.types import AuditEntry, ConceptInfo


def record(
    s: Session, scope_id: int | None, actor: str | None, action: str, concept: ConceptInfo | None, **details: object
) -> None:
    """Record an action; one about a concept also records whose concept it is (subject), which
    erasure of that member relies on even after the concept is gone."""
    s.add(
        AuditEvent(
            scope_id=scope_id,
            actor=actor,
            action=action,
            concept_id=concept.id if concept is not None else None,
            subject=concept.created_by if concept is not None else None,
            details=details,
        )
    )


def latest(s: Session, scope_id: int, limit: int) -> list[AuditEntry]:
    """The scope's latest entries, newest first."""
    rows = s.execute(
        select(AuditEvent).where(AuditEvent.scope_id == scope_id).order_by(AuditEvent.id.desc()).limit(limit)
    ).scalars()
    return [
        AuditEntry(
            id=r.id,
            scope_id=r.scope_id,
            actor=r.actor,
            action=r.action,
            concept_id=r.concept_id,
            details=dict(r.details),
            at=r.at,
        )
        for r in rows
    ]


def scrub_member(s: Session, platform: str, user_id: str, contributed: list[int]) -> None:
    """In the platform's groups, keep that things happened but not by or about whom: records by the
    user, about their concepts (subject: also those a moderator already deleted, by forget or purge,
    so `contributed` no longer lists them), or naming them as a purged member lose their details."""
    about_user = (
        (AuditEvent.actor == user_id)
        | (AuditEvent.subject == user_id)
        | AuditEvent.concept_id.in_(contributed)
        | (AuditEvent.details["member"].astext == user_id)
    )
    s.execute(
        update(AuditEvent)
        .where(AuditEvent.scope_id.in_(scopes.group_ids(platform)), about_user)
        .values(
            details=text("'{}'::jsonb"),
            actor=func.nullif(AuditEvent.actor, user_id),
            subject=func.nullif(AuditEvent.subject, user_id),
        )
        .execution_options(synchronize_session=False)
    )
