"""Initial tables: scopes, concepts, views (crop + embedding of any dimension), audit_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "scopes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("locked", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("similarity_threshold", sa.Float(), nullable=True),
        sa.Column("auto_caption", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        _now(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scopes")),
        sa.UniqueConstraint("platform", "kind", "external_id", name=op.f("uq_scopes_platform_kind_external_id")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("concept_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_audit_events_scope_id_scopes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"], unique=False)
    op.create_index("ix_audit_events_concept_id", "audit_events", ["concept_id"], unique=False)
    op.create_index("ix_audit_events_scope_id_id", "audit_events", ["scope_id", "id"], unique=False)
    op.create_table(
        "concepts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("normalised_name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("shared_from", sa.BigInteger(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        _now(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_concepts_scope_id_scopes"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["shared_from"], ["concepts.id"], name=op.f("fk_concepts_shared_from_concepts"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concepts")),
        sa.UniqueConstraint("scope_id", "normalised_name", name=op.f("uq_concepts_scope_id_normalised_name")),
    )
    op.create_index("ix_concepts_created_by", "concepts", ["created_by"], unique=False)
    op.create_index(
        "uq_concepts_scope_id_request_id",
        "concepts",
        ["scope_id", "request_id"],
        unique=True,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.create_table(
        "views",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("concept_id", sa.BigInteger(), nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("encoder", sa.String(length=200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", Vector(), nullable=False),
        sa.Column("box", postgresql.ARRAY(sa.Float()), nullable=True),
        sa.Column("image", sa.LargeBinary(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        _now(),
        sa.ForeignKeyConstraint(
            ["concept_id"], ["concepts.id"], name=op.f("fk_views_concept_id_concepts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["scope_id"], ["scopes.id"], name=op.f("fk_views_scope_id_scopes"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_views")),
    )
    # Keep embeddings inline in the heap row (a 768-d vector is ~3 KB, over the default 2 KB TOAST
    # target): a per-scope search then reads one page per view instead of a TOAST index + 2 chunks.
    # Images still move out of line, being larger.
    op.execute("ALTER TABLE views SET (toast_tuple_target = 8160)")
    op.create_index("ix_views_concept_id", "views", ["concept_id"], unique=False)
    op.create_index("ix_views_scope_id_encoder", "views", ["scope_id", "encoder"], unique=False)
    op.create_index(
        "uq_views_scope_id_request_id",
        "views",
        ["scope_id", "request_id"],
        unique=True,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )


def downgrade() -> None:
    # Dropping the tables drops their indexes and constraints with them.
    op.drop_table("views")
    op.drop_table("concepts")
    op.drop_table("audit_events")
    op.drop_table("scopes")
    op.execute("DROP EXTENSION IF EXISTS vector")
