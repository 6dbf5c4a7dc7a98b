"""Per-memory locality for views: embeddings stay inline in the heap row (STORAGE MAIN) and the table
is ordered by (scope_id, encoder), so one memory's views sit on consecutive pages (two 768-float
views per 8 KB page) instead of one page per view scattered in arrival order.

Postgres keeps no order for rows inserted later: `rapbot db cluster`
(memory.repositories.search.cluster_views) orders the table again. See docs/memory.md, "Retrieval
figures".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # MAIN: a vector is kept inline (compressed only as a last resort, moved to TOAST never unless
    # the row cannot fit a page otherwise): a photo's bytes move out first (toast_tuple_target 8160,
    # 0001). A TOASTed vector costs a TOAST index lookup and two chunk reads per view.
    op.execute("ALTER TABLE views ALTER COLUMN embedding SET STORAGE MAIN")
    # The clustering index, so a later plain `CLUSTER views` (rapbot db cluster) needs no name.
    op.execute("ALTER TABLE views CLUSTER ON ix_views_scope_id_encoder")
    # One-off: rewrites the table in (scope_id, encoder) order under an ACCESS EXCLUSIVE lock (37-73 s
    # per million views on 2 busy cores) and needs free disk for the copy. (STORAGE MAIN applies to
    # rows written from now on; rows stored before were inline already, see 0001.)
    op.execute("CLUSTER views")
    op.execute("ANALYZE views")


def downgrade() -> None:
    # Row order is no schema: only the storage mode and the clustering mark are undone.
    op.execute("ALTER TABLE views SET WITHOUT CLUSTER")
    op.execute("ALTER TABLE views ALTER COLUMN embedding SET STORAGE EXTERNAL")
