"""Names that look the same are one name per scope (concepts.name_skeleton, unique with scope_id);
audit records keep whose concept they are about (audit_events.subject), so erasing that member
scrubs them all.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import icu
import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Concepts that already looked alike in one scope before this revision both stay: the later ones get
# this suffix (a control character, which no name and so no skeleton contains) plus their id, so the
# unique index holds and nothing is renamed behind the user's back. New names are refused against
# the first one's plain skeleton; renaming a suffixed one gives it a plain skeleton again.
LEGACY_SUFFIX = "\x1f"

_SPOOF = icu.SpoofChecker()


def name_skeleton(name: str) -> str:
    """This revision's own, frozen copy of memory.validation.name_skeleton as of 2026-12-01 (a later
    change to the live function must not rewrite what this revision computed): the Unicode TR39
    skeleton of the NFKC name (ICU's confusables data), then case-folded and NFKC again."""
    skeleton = _SPOOF.getSkeleton(0, unicodedata.normalize("NFKC", name.strip()))
    return unicodedata.normalize("NFKC", str(skeleton).casefold())


_concepts = sa.table(
    "concepts",
    sa.column("id", sa.BigInteger),
    sa.column("scope_id", sa.BigInteger),
    sa.column("name", sa.String),
    sa.column("name_skeleton", sa.Text),
)


def _backfill_skeletons() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_concepts.c.id, _concepts.c.scope_id, _concepts.c.name).order_by(_concepts.c.scope_id, _concepts.c.id)
    ).all()
    seen: set[tuple[int, str]] = set()
    values = []
    for row in rows:
        skeleton = name_skeleton(row.name)
        if (row.scope_id, skeleton) in seen:
            skeleton = f"{skeleton}{LEGACY_SUFFIX}{row.id}"
        seen.add((row.scope_id, skeleton))
        values.append({"concept_id": row.id, "skeleton": skeleton})
    if values:
        bind.execute(
            _concepts.update()
            .where(_concepts.c.id == sa.bindparam("concept_id"))
            .values(name_skeleton=sa.bindparam("skeleton")),
            values,
        )


def upgrade() -> None:
    op.add_column("concepts", sa.Column("name_skeleton", sa.Text(), nullable=True))
    _backfill_skeletons()
    op.alter_column("concepts", "name_skeleton", nullable=False)
    op.create_unique_constraint(op.f("uq_concepts_scope_id_name_skeleton"), "concepts", ["scope_id", "name_skeleton"])

    op.add_column("audit_events", sa.Column("subject", sa.String(length=128), nullable=True))
    op.create_index("ix_audit_events_subject", "audit_events", ["subject"], unique=False)
    # Whose concept each record is about: the concept's creator while it exists, else the member
    # whose add/share record created it.
    op.execute(
        """
        UPDATE audit_events a SET subject = c.created_by
        FROM concepts c WHERE a.concept_id = c.id
        """
    )
    op.execute(
        """
        UPDATE audit_events a SET subject = made.actor
        FROM audit_events made
        WHERE a.subject IS NULL AND a.concept_id = made.concept_id
          AND made.action IN ('add', 'share') AND made.actor IS NOT NULL
        """
    )
    # Records that an erasure before this revision missed (about a concept a moderator had already
    # deleted): a creation record without actor means its creator was erased, so nothing about that
    # concept may keep a name.
    op.execute(
        """
        UPDATE audit_events a SET details = '{}'::jsonb
        FROM audit_events made
        WHERE a.concept_id = made.concept_id AND made.action IN ('add', 'share') AND made.actor IS NULL
          AND a.details <> '{}'::jsonb
        """
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject", table_name="audit_events")
    op.drop_column("audit_events", "subject")
    op.drop_constraint(op.f("uq_concepts_scope_id_name_skeleton"), "concepts", type_="unique")
    op.drop_column("concepts", "name_skeleton")
