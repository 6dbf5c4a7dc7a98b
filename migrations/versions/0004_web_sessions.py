"""The gallery's sessions (server-side, so sign-out, "sign out everywhere" and /forgetme end them;
a console sign-in link's nonce is unique, so a link signs in once) and the members seen in each
group memory (the gallery asks a platform only about groups a user was seen in).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("sign_in_nonce", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("sign_in_nonce", name=op.f("uq_web_sessions_sign_in_nonce")),
    )
    op.create_index("ix_web_sessions_platform_user_id", "web_sessions", ["platform", "user_id"])
    op.create_table(
        "members_seen",
        sa.Column("scope_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"], ["scopes.id"], name=op.f("fk_members_seen_scope_id_scopes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("scope_id", "user_id", name=op.f("pk_members_seen")),
    )
    # Which groups a user was seen in (the primary key serves the other direction).
    op.create_index("ix_members_seen_user_id", "members_seen", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_members_seen_user_id", table_name="members_seen")
    op.drop_table("members_seen")
    op.drop_index("ix_web_sessions_platform_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
