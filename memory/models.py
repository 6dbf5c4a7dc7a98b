"""The store's tables as typed SQLAlchemy 2 models. Only memory/ and migrations/ see these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations and autogenerate agree.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Scope(Base):
    """Whose memory: a user's private one or a group chat's shared one."""

    __tablename__ = "scopes"
    __table_args__ = (UniqueConstraint("platform", "kind", "external_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    external_id: Mapped[str] = mapped_column(String(128), nullable=False)
    locked: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    similarity_threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    auto_caption: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = _now()
    # A new number (one sequence) at every committed change to this memory's views or concepts, set
    # by triggers (migration 0008): what memory/search_cache.py compares its copy's number with.
    search_version: Mapped[int] = mapped_column(
        BigInteger, nullable=False, server_default=text("nextval('scope_search_version_seq')")
    )


class Concept(Base):
    __tablename__ = "concepts"
    __table_args__ = (
        UniqueConstraint("scope_id", "normalised_name"),
        # Two names that look the same (TR39 skeleton, validation.name_skeleton) are one name per scope.
        UniqueConstraint("scope_id", "name_skeleton"),
        # Idempotency of Celery redelivery: one concept per (scope, request id).
        Index(
            "uq_concepts_scope_id_request_id",
            "scope_id",
            "request_id",
            unique=True,
            postgresql_where=text("request_id IS NOT NULL"),
        ),
        Index("ix_concepts_created_by", "created_by"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    # NFKC may expand a 64-character name many times over, so no length cap here.
    normalised_name: Mapped[str] = mapped_column(Text, nullable=False)
    # validation.name_skeleton(name); for rows that already looked alike before migration 0002 it
    # carries a suffix that no real skeleton has (see that migration).
    name_skeleton: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False)
    shared_from: Mapped[int | None] = mapped_column(ForeignKey("concepts.id", ondelete="SET NULL"), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class View(Base):
    """One reference image of a concept with its embedding. scope_id is denormalised from the concept
    so per-scope search reads one table through one btree."""

    __tablename__ = "views"
    __table_args__ = (
        Index("ix_views_scope_id_encoder", "scope_id", "encoder"),
        Index("ix_views_concept_id", "concept_id"),
        Index(
            "uq_views_scope_id_request_id",
            "scope_id",
            "request_id",
            unique=True,
            postgresql_where=text("request_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    concept_id: Mapped[int] = mapped_column(ForeignKey("concepts.id", ondelete="CASCADE"), nullable=False)
    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), nullable=False)
    encoder: Mapped[str] = mapped_column(String(200), nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    # No fixed dimension: encoders differ (768 for ViT-L-14-336, 512 for ViT-B-32); `dim` records it.
    embedding: Mapped[Any] = mapped_column(Vector(), nullable=False)
    box: Mapped[list[float] | None] = mapped_column(ARRAY(Float), nullable=True)
    image: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # A crop the user said is NOT this concept: never a reference image, only a veto in search.
    negative: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    created_at: Mapped[datetime] = _now()


class AuditEvent(Base):
    """Who did what to which concept. concept_id is not a foreign key: the record outlives the concept.
    subject is the member whose concept it was (its created_by), kept for the same reason: erasing that
    member finds every record naming their data, even one about a concept a moderator already deleted."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_scope_id_id", "scope_id", "id"),
        # erasure finds the rows by a user or about their concepts
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_concept_id", "concept_id"),
        Index("ix_audit_events_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scope_id: Mapped[int | None] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    concept_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    subject: Mapped[str | None] = mapped_column(String(128), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    at: Mapped[datetime] = _now()


# ---- the photo index (migration 0007; memory/photo_index.py, docs/index.md) ----------------------


class PhotoIndexSettings(Base):
    """A memory's opt-in photo index: off until a moderator (or the owner) turns it on; `since` is
    when it was last turned on (nothing posted before is ever indexed)."""

    __tablename__ = "photo_index_settings"

    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retention_days: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("180"))
    keep_thumbnails: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    updated_at: Mapped[datetime] = _now()


class IndexedPhoto(Base):
    """One photo posted in a chat while its index was on: who posted it, where to find it (a link,
    a jump URL, a file path), and a small thumbnail only when the memory keeps them."""

    __tablename__ = "indexed_photos"
    __table_args__ = (
        Index("ix_indexed_photos_scope_id_posted_at", "scope_id", "posted_at"),
        Index("ix_indexed_photos_posted_by", "posted_by"),
        Index(
            "uq_indexed_photos_scope_id_request_id",
            "scope_id",
            "request_id",
            unique=True,
            postgresql_where=text("request_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), nullable=False)
    posted_by: Mapped[str] = mapped_column(String(128), nullable=False)
    location: Mapped[str] = mapped_column(Text, nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(160), nullable=True)
    posted_at: Mapped[datetime] = _now()


class IndexedEmbedding(Base):
    """A CLIP embedding of an indexed photo (the whole photo, or one detected crop) or a face
    descriptor in it. scope_id is denormalised so per-memory search reads one btree."""

    __tablename__ = "indexed_embeddings"
    __table_args__ = (
        Index("ix_indexed_embeddings_scope_id_encoder", "scope_id", "encoder"),
        Index("ix_indexed_embeddings_photo_id", "photo_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("indexed_photos.id", ondelete="CASCADE"), nullable=False)
    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # "whole", "crop" or "face"
    encoder: Mapped[str] = mapped_column(String(200), nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    embedding: Mapped[Any] = mapped_column(Vector(), nullable=False)
    box: Mapped[list[float] | None] = mapped_column(ARRAY(Float), nullable=True)


class IndexedRecognition(Base):
    """A concept recognised in an indexed photo. Forgetting the concept drops these rows (the photo
    stays indexed without it). `uncertain`: another concept scored within the look-alike margin."""

    __tablename__ = "indexed_recognitions"
    __table_args__ = (
        UniqueConstraint("photo_id", "concept_id"),
        Index("ix_indexed_recognitions_concept_id", "concept_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("indexed_photos.id", ondelete="CASCADE"), nullable=False)
    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), nullable=False)
    concept_id: Mapped[int] = mapped_column(ForeignKey("concepts.id", ondelete="CASCADE"), nullable=False)
    similarity: Mapped[float] = mapped_column(Float, nullable=False)
    box: Mapped[list[float] | None] = mapped_column(ARRAY(Float), nullable=True)
    uncertain: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class MemberSeen(Base):
    """A member seen asking in a group memory (any request through its chat): the gallery asks a
    platform about a user's membership only in these groups. One small row per (group, member);
    erasing the member or the group removes it."""

    __tablename__ = "members_seen"
    __table_args__ = (Index("ix_members_seen_user_id", "user_id"),)

    scope_id: Mapped[int] = mapped_column(ForeignKey("scopes.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = _now()


class WebSession(Base):
    """A signed-in gallery session. `id` is the SHA-256 (hex) of the random session id in the
    user's cookie, so the table alone cannot open one. Sign-out ends a row, "sign out everywhere"
    and /forgetme every row of the user. `sign_in_nonce` is the console sign-in link's nonce:
    unique, so a link signs in once."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_platform_user_id", "platform", "user_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32), nullable=False)
    user_id: Mapped[str] = mapped_column(String(128), nullable=False)
    sign_in_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeadLetter(Base):
    """A request set aside because it stopped its worker on every delivery (migration 0005;
    `rapbot deadletters list`). It names the request and the cause, never its photo or text."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(160), nullable=False, unique=True)
    method: Mapped[str] = mapped_column(String(64), nullable=False)
    deliveries: Mapped[int] = mapped_column(Integer, nullable=False)
    cause: Mapped[str] = mapped_column(Text, nullable=False)
    at: Mapped[datetime] = _now()
