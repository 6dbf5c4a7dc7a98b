"""`rapbot db upgrade|downgrade|current`: migrate the memory database (the embedded one by default,
or RAPBOT_DATABASE_URL, or --url); the `rapbot memory` group. Imports stay light at module level so
`rapbot --help` is fast."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import create_engine, pool

from memory.database import translate_unavailable
from memory.errors import MemoryStoreError
from memory.repositories.search import cluster_views

db_app = typer.Typer(help="The memory database: migrate it up or down, show its revision.", no_args_is_help=True)
# `rapbot memory ...`: maintenance of what is stored. Its commands that need a network (reembed) are
# added by worker/ (worker/ops/reembed_cli.py), which may load one; memory/ never does.
memory_app = typer.Typer(help="The stored memories: maintenance (re-embedding after an encoder change).")

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Database URL (default: RAPBOT_DATABASE_URL, else the embedded database)."),
]


def cli_url(url: str | None) -> str:
    # SQLAlchemy and the database code load when a command runs, not for `rapbot --help`.
    from memory.database import resolve_url, to_sqlalchemy_url
    from memory.settings import MemorySettings

    return to_sqlalchemy_url(url) if url else resolve_url(MemorySettings())


def _run(action: str, url: str | None, revision: str | None = None) -> str | None:
    # Alembic and SQLAlchemy load when a command runs, not for `rapbot --help`.
    from memory import migrate
    from memory.database import translate_unavailable
    from memory.errors import MemoryStoreError

    try:
        target = cli_url(url)
        with translate_unavailable(target):
            return migrate.current(target) if action == "current" else getattr(migrate, action)(target, revision)
    except MemoryStoreError as err:
        typer.echo(f"Error: {err.message}", err=True)
        raise typer.Exit(1) from None


@db_app.command()
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head", url: UrlOption = None) -> None:
    """Bring the database up to a revision (default: the newest)."""
    _run("upgrade", url, revision)
    typer.echo(f"Database at {_run('current', url) or 'base'}.")


@db_app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help='Target revision; "base" drops every table of the store.')],
    url: UrlOption = None,
) -> None:
    """Take the database down to a revision. "base" deletes all memories."""
    _run("downgrade", url, revision)
    typer.echo(f"Database at {_run('current', url) or 'base'}.")


@db_app.command()
def current(url: UrlOption = None) -> None:
    """Show the database's revision."""
    typer.echo(_run("current", url) or "base (not migrated)")


@db_app.command()
def cluster(url: UrlOption = None) -> None:
    """Order the stored views by memory again: a search reads one memory's views from consecutive
    pages, but views added since the last run sit one per page. Locks the views table while it runs
    (30-75 s per million views); run it when the bot is quiet, e.g. nightly."""

    try:
        target = cli_url(url)
        with translate_unavailable(target):
            engine = create_engine(target, poolclass=pool.NullPool)
            try:
                with engine.begin() as conn:
                    cluster_views(conn)
            finally:
                engine.dispose()
    except MemoryStoreError as err:
        typer.echo(f"Error: {err.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo("Views ordered by memory.")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(db_app, name="db")
    app.add_typer(memory_app, name="memory", no_args_is_help=True)
