"""A search version per memory, so a process may keep a memory's views in its own RAM and still
answer exactly (memory/search_cache.py): every committed change to a memory's views or concepts
gives its scope a new `search_version` (a number never used before, from one sequence), and a
search compares that number with the one its copy was loaded at.

Row triggers on views and concepts (insert, update, delete; cascades included) set it; TRUNCATE
of either table renumbers every scope. See docs/memory.md, "Retrieval figures".

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("views", "concepts")


def upgrade() -> None:
    op.execute("CREATE SEQUENCE scope_search_version_seq")
    # A volatile default: every existing scope gets a number of its own (the table is rewritten once).
    op.execute(
        "ALTER TABLE scopes ADD COLUMN search_version bigint NOT NULL DEFAULT nextval('scope_search_version_seq')"
    )
    # AFTER ROW, not per statement with transition tables: those would copy every changed row
    # (photos included) into a tuplestore. A writer holds its scope's row lock until it commits, so
    # two writes to one memory commit one after the other (reads never wait).
    op.execute(
        """
        CREATE FUNCTION rapbot_bump_search_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                UPDATE scopes SET search_version = nextval('scope_search_version_seq') WHERE id = OLD.scope_id;
            END IF;
            IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.scope_id IS DISTINCT FROM OLD.scope_id) THEN
                UPDATE scopes SET search_version = nextval('scope_search_version_seq') WHERE id = NEW.scope_id;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION rapbot_bump_all_search_versions() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE scopes SET search_version = nextval('scope_search_version_seq');
            RETURN NULL;
        END $$
        """
    )
    for table in _TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_search_version AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION rapbot_bump_search_version()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_truncate_search_version AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION rapbot_bump_all_search_versions()"
        )


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"DROP TRIGGER {table}_truncate_search_version ON {table}")
        op.execute(f"DROP TRIGGER {table}_search_version ON {table}")
    op.execute("DROP FUNCTION rapbot_bump_all_search_versions()")
    op.execute("DROP FUNCTION rapbot_bump_search_version()")
    op.execute("ALTER TABLE scopes DROP COLUMN search_version")
    op.execute("DROP SEQUENCE scope_search_version_seq")
