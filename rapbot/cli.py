"""`rapbot`: the root command. Each package adds its own commands through `register(app)`; those
modules import only light things at top level so `rapbot --help` stays fast."""

from __future__ import annotations

import signal
import threading
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from bot.cli import register as register_bot
from memory.cli import register as register_memory
from model.cli import register as register_model
from training.cli import register as register_training
from worker.ops.cli import register as register_worker
from worker.ops.reembed_cli import register as register_reembed

app = typer.Typer(
    name="rapbot",
    help="A personal visual memory for chat: remember your things and people from one photo each.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
    add_completion=False,  # no --install-completion / --show-completion noise in every help
    rich_markup_mode=None,  # plain help: no boxes, no <bool> labels on flags
)


def _print_version(wanted: bool) -> None:
    if not wanted:
        return
    try:
        typer.echo(f"rapbot {installed_version('rapbot')}")
    except PackageNotFoundError:  # run from a checkout that was never installed
        typer.echo("rapbot (version unknown: not installed)")
    raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """A personal visual memory for chat: remember your things and people from one photo each."""


for register in (register_memory, register_reembed, register_model, register_worker, register_bot, register_training):
    register(app)


def settings_error_lines(error: Any) -> list[str]:
    """A settings error as lines naming each variable and what it expects, never the value given
    (it may be a password typed into the wrong variable)."""
    lines = [f"rapbot: a setting is not valid ({error.title}):"]
    for item in error.errors(include_input=False, include_url=False, include_context=False):
        field = ".".join(str(part) for part in item["loc"])
        lines.append(f"  {'RAPBOT_' + field.upper() if field else 'settings'}: {item['msg']}")
    lines.append("Fix it in the environment or in .env (see .env.example).")
    return lines


def stop_on_signals() -> None:
    """SIGTERM (systemd, docker stop, kill) and SIGINT (Ctrl-C) end a command where it stands by
    unwinding it, so the frontends close their clients, `rapbot worker` stops its children, and the
    exit handlers run, the embedded Postgres's among them (pgserver stops the server it started).
    Python's default for SIGTERM is to die on the spot, leaving all of that running; and asyncio's
    own Ctrl-C handling only asks the event loop, which a console waiting on piped input never
    hears. Servers that catch the signals themselves (uvicorn, Celery, python-telegram-bot) replace
    these while they run and hand them back."""

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate)
        signal.signal(signal.SIGINT, interrupt)


def main() -> None:
    stop_on_signals()
    try:
        app()
    except ValidationError as error:
        typer.echo("\n".join(settings_error_lines(error)), err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
