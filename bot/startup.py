"""Starting a frontend (`rapbot console`, `telegram`, `discord`): the worker's client opened from
settings, with every configuration or service problem turned into one line for the operator that
names the setting to fix. Never a traceback, and never a setting's value (URLs hold passwords)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from memory.settings import MemorySettings
from worker.client import RapClient
from worker.errors import BACKEND_DOWN, RapError
from worker.settings import WorkerSettings


class StartupError(Exception):
    """The frontend cannot start; `str(err)` is one line for the operator, without secrets."""


def describe_validation(err: ValidationError, prefix: str = "RAPBOT_") -> str:
    """One clause per bad setting, naming its variable. Never pydantic's own text: it quotes the
    input, and the input may be a URL with a password or a token."""
    parts = []
    for error in err.errors():
        field = "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}{field}: {message}" if field else message)
    return "; ".join(parts)


def check_url(setting: str, url: str | None, schemes: tuple[str, ...]) -> None:
    """Refuse a URL whose scheme or port cannot work, naming the setting (never its value)."""
    if url is None or not url.strip():
        return
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - reading it raises ValueError for a port that is not a number 0-65535
    except ValueError:
        raise StartupError(f"{setting} has a malformed port: it must be a number from 1 to 65535.") from None
    scheme = parts.scheme.lower().split("+", 1)[0]
    if scheme not in schemes:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise StartupError(f"{setting} must be a URL starting with {wanted}.")


def check_settings() -> None:
    """The settings the worker's client reads, checked before anything is opened."""
    try:
        worker = WorkerSettings()
        memory = MemorySettings()
    except ValidationError as err:
        raise StartupError(describe_validation(err)) from None
    check_url("RAPBOT_DATABASE_URL", memory.database_url, ("postgresql",))
    check_url("RAPBOT_REDIS_URL", worker.redis_url, ("redis", "rediss", "unix"))
    if memory.database_url:
        try:
            make_url(memory.database_url.strip())
        except (ArgumentError, ValueError):
            raise StartupError(
                "RAPBOT_DATABASE_URL is not a database URL "
                "(expected postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE)."
            ) from None


def describe_start_failure(err: RapError) -> str:
    """A RapError met while opening the client, as a line for the operator."""
    text = err.message.lower()
    if err.code == BACKEND_DOWN and "database" in text:
        return (
            "the memory database is not reachable: check that Postgres is running and RAPBOT_DATABASE_URL "
            "(when unset, the embedded Postgres in RAPBOT_DATA_DIR is used)."
        )
    if err.code == BACKEND_DOWN and "model server" in text:
        return "the model server is not reachable: check RAPBOT_ENGINE and the vLLM server's address."
    return " ".join(err.message.split())


def open_client() -> RapClient:
    """The worker's client for this configuration, or StartupError with one line."""
    check_settings()
    from worker.transport.factory import get_client  # loads the pipeline: imported late to keep the CLI light

    try:
        return get_client()
    except RapError as err:
        raise StartupError(describe_start_failure(err)) from None
    except ValueError as err:  # a setting the checks above let through; its text may quote the value
        raise StartupError(
            f"a setting has a value that cannot be used ({type(err).__name__}): "
            "check RAPBOT_DATABASE_URL, RAPBOT_REDIS_URL and RAPBOT_PROFILE."
        ) from None
