"""Alembic environment: runs on the connection memory.migrate hands over, or on the URL in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from memory.database import resolve_url, to_sqlalchemy_url
from memory.models import Base
from memory.settings import MemorySettings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    """sqlalchemy.url from alembic.ini when set, else RAPBOT_DATABASE_URL, else the embedded database."""
    configured = config.get_main_option("sqlalchemy.url")
    return to_sqlalchemy_url(configured) if configured else resolve_url(MemorySettings())


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
