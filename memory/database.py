"""Engine creation: a given database URL, or an embedded PostgreSQL 16 + pgvector (pgserver) under
the data dir. Connection failures become one clear StoreUnavailable, never a driver traceback."""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from memory.errors import StoreUnavailable
from memory.migrate import upgrade
from memory.settings import MemorySettings

log = logging.getLogger(__name__)

# A unix socket path must fit in ~107 bytes; pgserver puts the socket in the data dir.
_MAX_PGDATA_CHARS = 80
UNAVAILABLE_MESSAGE = "The memory database cannot be reached right now. Please try again in a moment."


def to_sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 for any plain postgres URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def embedded_pgdata(data_dir: Path) -> Path:
    """Where the embedded server keeps its files: data_dir/pg, or a short directory under /tmp named
    after it when data_dir is too long for a unix socket path."""
    pgdata = data_dir.expanduser().resolve() / "pg"
    if len(str(pgdata)) <= _MAX_PGDATA_CHARS:
        return pgdata
    short = Path(tempfile.gettempdir()) / f"rapbot-pg-{sha256(str(pgdata).encode()).hexdigest()[:12]}"
    log.warning(
        "Data dir %s is too long for a Postgres unix socket path (limit ~107 bytes); "
        "keeping the embedded database in %s instead.",
        pgdata,
        short,
    )
    return short


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded Postgres 16 + pgvector and return its SQLAlchemy URL."""
    pgdata = embedded_pgdata(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (services, root shells); pgserver then
            # keeps its lock file under /tmp, which is fine. It asks at import time and at start.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import pgserver  # only the embedded default needs it

            # pgserver logs every pg_ctl call's stdout/stderr at INFO; a bot logging at INFO would
            # show that chatter on every start and stop.
            logging.getLogger("pgserver").setLevel(logging.WARNING)

            server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as err:
        # pgserver's errors carry paths and server logs, never credentials (it uses trust auth).
        log.error("Embedded Postgres in %s failed to start: %s: %s", pgdata, type(err).__name__, err)
        raise StoreUnavailable(
            f"The built-in memory database could not start (data in {pgdata}). "
            "Check the folder is writable, or set RAPBOT_DATABASE_URL."
        ) from None
    return to_sqlalchemy_url(server.get_uri())


def create_store_engine(url: str, settings: MemorySettings | None = None) -> Engine:
    """The pool: every connection checked out is pinged first (one cheap round trip), so the first
    request after a Postgres restart gets a fresh connection instead of failing on a dead one; and
    every session runs under the settings' statement, lock and idle-in-transaction timeouts, and
    connects within the connect timeout (a stopped worker cannot hold its row locks for long)."""
    settings = settings or MemorySettings()
    options = " ".join(
        f"-c {name}={int(seconds * 1000)}"
        for name, seconds in (
            ("statement_timeout", settings.statement_timeout_s),
            ("lock_timeout", settings.lock_timeout_s),
            ("idle_in_transaction_session_timeout", settings.idle_in_transaction_timeout_s),
        )
    )
    return create_engine(
        to_sqlalchemy_url(url),
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, round(settings.connect_timeout_s)), "options": options},
    )


def resolve_url(settings: MemorySettings) -> str:
    """The configured database URL, or the embedded server's."""
    if settings.database_url:
        return to_sqlalchemy_url(settings.database_url)
    return start_embedded(settings.data_dir)


def open_engine(settings: MemorySettings, migrate: bool = True) -> Engine:
    """An engine on the configured (or embedded) database, migrated to head."""
    url = resolve_url(settings)
    if migrate:
        with translate_unavailable(url):
            upgrade(url)
    return create_store_engine(url, settings)


@contextmanager
def translate_unavailable(url: str | None = None) -> Iterator[None]:
    """Turn driver connection/operational errors into StoreUnavailable, with no driver chain and no
    password anywhere in the message."""
    try:
        yield
    except (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError) as err:
        # psycopg's own errors reach here from the raw cursor the vector search uses.
        cause = getattr(err, "orig", err)
        log.error("Database %s unavailable: %s", safe_url(url) if url else "", type(cause).__name__)
        raise StoreUnavailable(UNAVAILABLE_MESSAGE) from None
