"""Run the Alembic migrations of the store programmatically (installed or from the repo)."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection


def _script_location() -> Path:
    """The folder of the `migrations` package, found without importing it: to memory/ the Alembic
    scripts are data that Alembic runs; migrations/ builds on memory/, never the other way round."""
    spec = find_spec("migrations")
    if spec is None or spec.origin is None:
        raise RuntimeError("the migrations package is not installed beside memory/")
    return Path(spec.origin).resolve().parent


SCRIPT_LOCATION = _script_location()


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["connection"] = connection
    return cfg


def _with_connection(url: str, action: str, revision: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            getattr(command, action)(_config(conn), revision)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    _with_connection(url, "upgrade", revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` down to `revision` ("base" drops every table of the store)."""
    _with_connection(url, "downgrade", revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
