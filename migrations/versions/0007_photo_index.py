"""The opt-in photo index (docs/index.md): per memory, its switch and retention; the photos posted
while it was on, their CLIP and face embeddings, and the concepts recognised in them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _scope_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["scope_id"], ["scopes.id"], name=op.f(f"fk_{table}_scope_id_scopes"), ondelete="CASCADE"
    )


def _photo_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["photo_id"], ["indexed_photos.id"], name=op.f(f"fk_{table}_photo_id_indexed_photos"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "photo_index_settings",
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retention_days", sa.Integer(), server_default=sa.text("180"), nullable=False),
        sa.Column("keep_thumbnails", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _scope_fk("photo_index_settings"),
        sa.PrimaryKeyConstraint("scope_id", name=op.f("pk_photo_index_settings")),
    )
    op.create_table(
        "indexed_photos",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("posted_by", sa.String(length=128), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=True),
        sa.Column("request_id", sa.String(length=160), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        _scope_fk("indexed_photos"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexed_photos")),
    )
    op.create_index("ix_indexed_photos_scope_id_posted_at", "indexed_photos", ["scope_id", "posted_at"])
    op.create_index("ix_indexed_photos_posted_by", "indexed_photos", ["posted_by"])
    op.create_index(
        "uq_indexed_photos_scope_id_request_id",
        "indexed_photos",
        ["scope_id", "request_id"],
        unique=True,
        postgresql_where=sa.text("request_id IS NOT NULL"),
    )
    op.create_table(
        "indexed_embeddings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("photo_id", sa.BigInteger(), nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("encoder", sa.String(length=200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", Vector(), nullable=False),
        sa.Column("box", postgresql.ARRAY(sa.Float()), nullable=True),
        _photo_fk("indexed_embeddings"),
        _scope_fk("indexed_embeddings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexed_embeddings")),
    )
    op.create_index("ix_indexed_embeddings_scope_id_encoder", "indexed_embeddings", ["scope_id", "encoder"])
    op.create_index("ix_indexed_embeddings_photo_id", "indexed_embeddings", ["photo_id"])
    op.create_table(
        "indexed_recognitions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("photo_id", sa.BigInteger(), nullable=False),
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("concept_id", sa.BigInteger(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("box", postgresql.ARRAY(sa.Float()), nullable=True),
        sa.Column("uncertain", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["concept_id"],
            ["concepts.id"],
            name=op.f("fk_indexed_recognitions_concept_id_concepts"),
            ondelete="CASCADE",
        ),
        _photo_fk("indexed_recognitions"),
        _scope_fk("indexed_recognitions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indexed_recognitions")),
        sa.UniqueConstraint("photo_id", "concept_id", name=op.f("uq_indexed_recognitions_photo_id_concept_id")),
    )
    op.create_index("ix_indexed_recognitions_concept_id", "indexed_recognitions", ["concept_id"])


def downgrade() -> None:
    op.drop_table("indexed_recognitions")
    op.drop_table("indexed_embeddings")
    op.drop_table("indexed_photos")
    op.drop_table("photo_index_settings")
