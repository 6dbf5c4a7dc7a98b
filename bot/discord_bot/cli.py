"""`rapbot discord`: the command that runs the Discord bot. Imports nothing heavy at top level."""

from __future__ import annotations

import typer


def discord_command() -> None:
    """Run the Discord bot (needs RAPBOT_DISCORD_TOKEN; see docs/discord.md)."""
    from bot.discord_bot.app import MissingToken, run

    try:
        run()
    except MissingToken as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(code=2) from None
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command(name="discord")(discord_command)
