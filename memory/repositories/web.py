"""What the web gallery keeps besides memories: its sessions (web_sessions) and the members seen in
each group memory (members_seen), which bound the groups a sign-in asks a platform about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from memory.models import Concept, MemberSeen, Scope, WebSession
from memory.types import ScopeKind

# Ended or expired session rows are deleted this long after their end (a console link's nonce must
# outlive the link, which lasts minutes).
KEEP_ENDED = timedelta(days=1)


def note_member(s: Session, scope_id: int, user_id: str) -> None:
    s.execute(
        pg_insert(MemberSeen)
        .values(scope_id=scope_id, user_id=user_id)
        .on_conflict_do_nothing(index_elements=["scope_id", "user_id"])
    )


def seen_groups(s: Session, platform: str, user_id: str, limit: int) -> list[str]:
    """The chat ids of the platform's group memories the user was seen in or added to, newest first."""
    seen = select(MemberSeen.scope_id).where(MemberSeen.user_id == user_id)
    added = select(Concept.scope_id).where(Concept.created_by == user_id)
    query = (
        select(Scope.external_id)
        .where(
            Scope.platform == platform,
            Scope.kind == ScopeKind.GROUP.value,
            or_(Scope.id.in_(seen), Scope.id.in_(added)),
        )
        .order_by(Scope.id.desc())
        .limit(limit)
    )
    return [str(chat) for chat in s.execute(query).scalars()]


def known_groups(s: Session, platform: str, chat_ids: Sequence[str]) -> list[str]:
    """Which of these chat ids have a group memory on the platform."""
    query = select(Scope.external_id).where(
        Scope.platform == platform, Scope.kind == ScopeKind.GROUP.value, Scope.external_id.in_(list(chat_ids))
    )
    return [str(chat) for chat in s.execute(query).scalars()]


def forget_member(s: Session, platform: str, user_id: str) -> None:
    """Erasure: the user is no longer remembered as seen in the platform's groups, and their
    gallery sessions there end (the rows go)."""
    groups = select(Scope.id).where(Scope.platform == platform)
    s.execute(delete(MemberSeen).where(MemberSeen.user_id == user_id, MemberSeen.scope_id.in_(groups)))
    s.execute(delete(WebSession).where(WebSession.platform == platform, WebSession.user_id == user_id))


def open_session(s: Session, session_hash: str, platform: str, user_id: str, max_age_s: int, nonce: str | None) -> bool:
    """Record a new session; False when `nonce` was already used (nothing recorded)."""
    now = datetime.now(UTC)
    s.execute(delete(WebSession).where(WebSession.expires_at < now - KEEP_ENDED))
    s.execute(delete(WebSession).where(WebSession.ended_at < now - KEEP_ENDED))
    inserted = s.execute(
        pg_insert(WebSession)
        .values(
            id=session_hash,
            platform=platform,
            user_id=user_id,
            sign_in_nonce=nonce,
            expires_at=now + timedelta(seconds=max_age_s),
        )
        .on_conflict_do_nothing()
        .returning(WebSession.id)
    ).first()
    return inserted is not None


def session_active(s: Session, session_hash: str, platform: str, user_id: str) -> bool:
    query = select(WebSession.id).where(
        WebSession.id == session_hash,
        WebSession.platform == platform,
        WebSession.user_id == user_id,
        WebSession.ended_at.is_(None),
        WebSession.expires_at > datetime.now(UTC),
    )
    return s.execute(query).first() is not None


def end_sessions(s: Session, platform: str, user_id: str, session_hash: str | None) -> int:
    """End one session of the user (its hash) or, with None, all of them. Returns how many ended."""
    query = update(WebSession).where(
        WebSession.platform == platform, WebSession.user_id == user_id, WebSession.ended_at.is_(None)
    )
    if session_hash is not None:
        query = query.where(WebSession.id == session_hash)
    ended = s.execute(query.values(ended_at=datetime.now(UTC)).returning(WebSession.id)).all()
    return len(ended)
