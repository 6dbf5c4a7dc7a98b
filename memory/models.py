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
