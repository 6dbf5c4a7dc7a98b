"""Commands of bot/ for the `rapbot` command line: `console`, `telegram`, `discord`, `web`.

Imports stay light here (no worker pipeline, no networks) so `rapbot --help` is fast: each command
imports its frontend when it runs."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "console-user"


def console(
    user: Annotated[str | None, typer.Option("--user", help="Who you are (default: your OS user name).")] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Act in this group's shared memory instead of your own.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Be a moderator of the group (with --group).")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for annotated images and exports (default: a new temp folder)."),
    ] = None,
) -> None:
    """Chat with rapbot in the terminal. Attach an image with @PATH, e.g. `/remember bo: my dog @bo.jpg`."""
    from bot.console import run_console  # each frontend loads when its command runs: `rapbot --help` stays fast

    who_name = (user or _default_user()).strip()
    if not who_name:
        raise typer.BadParameter("must not be empty", param_hint="--user")
    if group is not None and not group.strip():
        raise typer.BadParameter("must not be empty", param_hint="--group")
    raise typer.Exit(asyncio.run(run_console(who_name, group.strip() if group else None, admin, out)))


def telegram() -> None:
    """Run the Telegram bot (needs RAPBOT_TELEGRAM_TOKEN)."""
    from bot.telegram_bot.app import run  # python-telegram-bot loads only for this command

    run()


def discord() -> None:
    """Run the Discord bot (needs RAPBOT_DISCORD_TOKEN)."""
    from bot.discord_bot.app import run  # discord.py loads only for this command

    run()


def web() -> None:
    """Run the web gallery (browser and Telegram Mini App; needs RAPBOT_WEB_SESSION_SECRET)."""
    from bot.web.server import run  # FastAPI and uvicorn load only for this command

    run()


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("console")(console)
    app.command("telegram")(telegram)
    app.command("discord")(discord)
    app.command("web")(web)
