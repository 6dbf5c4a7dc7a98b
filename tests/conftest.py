"""Shared fixtures: offline model hubs, one embedded Postgres + pgvector per test session, a fresh
migrated database per test, and the tiny model profile built once per session."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Never reach a model hub or GitHub from tests: a missing weight must fail fast, not hang.
_OFFLINE_DIR = Path(tempfile.mkdtemp(prefix="rapbot-yolo-"))
os.environ.update(
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    YOLO_OFFLINE="1",
    YOLO_AUTOINSTALL="0",
    YOLO_CONFIG_DIR=str(_OFFLINE_DIR),
    RAPBOT_PROFILE="tiny",
    # Tests never write into the user's own data or model folders.
    RAPBOT_MODEL_DIR=str(_OFFLINE_DIR / "models"),
    RAPBOT_DATA_DIR=str(_OFFLINE_DIR / "data"),
)

if TYPE_CHECKING:
    from model.types import ModelBundle


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """An embedded PostgreSQL 16 + pgvector for the whole session (unix socket, short path)."""
    import pgserver

    datadir = Path(tempfile.mkdtemp(prefix="rbpg-", dir="/tmp"))
    server = pgserver.get_server(datadir, cleanup_mode="stop")
    # A throwaway test server needs no durability; without this, stopping it flushes every test
    # database to disk (tens of seconds).
    server.psql("ALTER SYSTEM SET fsync = off;")
    server.psql("ALTER SYSTEM SET synchronous_commit = off;")
    server.psql("ALTER SYSTEM SET full_page_writes = off;")
    server.psql("SELECT pg_reload_conf();")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)


def _sqlalchemy_url(server: Any, database: str) -> str:
    # pgserver gives postgresql://postgres:@/postgres?host=/socket/dir
    uri: str = server.get_uri(database)
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


_db_counter = itertools.count()


@pytest.fixture(scope="session")
def migrated_template(pg_server: Any) -> str:
    """A database migrated to head once, cloned for every test (CREATE DATABASE ... TEMPLATE)."""
    from memory.migrate import upgrade

    pg_server.psql("CREATE DATABASE rapbot_template;")
    upgrade(_sqlalchemy_url(pg_server, "rapbot_template"))
    return "rapbot_template"


def _drop(server: Any, name: str) -> None:
    # Dropped at once rather than at server stop: hundreds of leftover databases make the stop slow.
    server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")


@pytest.fixture
def database_url(pg_server: Any, migrated_template: str) -> Iterator[str]:
    """A fresh, migrated, empty database for one test, as a SQLAlchemy URL."""
    name = f"t{os.getpid()}_{next(_db_counter)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {migrated_template};")
    yield _sqlalchemy_url(pg_server, name)
    _drop(pg_server, name)


@pytest.fixture
def empty_database_url(pg_server: Any) -> Iterator[str]:
    """A fresh database with no tables at all (for migration tests)."""
    name = f"e{os.getpid()}_{next(_db_counter)}"
    pg_server.psql(f"CREATE DATABASE {name};")
    yield _sqlalchemy_url(pg_server, name)
    _drop(pg_server, name)


@pytest.fixture(scope="session")
def tiny_models() -> ModelBundle:
    """The tiny profile (random weights of the real architectures, seeded), built once."""
    from model.profiles import load_bundle

    return load_bundle("tiny")
