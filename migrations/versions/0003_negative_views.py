"""Views can be negative: a crop the user said is NOT that concept (a rejected recognition). A
negative view vetoes later matches closer to it than to the concept's own views.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every view stored before this revision is one of the concept's own photos.
    op.add_column("views", sa.Column("negative", sa.Boolean(), server_default=sa.text("false"), nullable=False))


def downgrade() -> None:
    # The negative views would turn into positive ones without the column: delete them first.
    op.execute("DELETE FROM views WHERE negative")
    op.drop_column("views", "negative")
