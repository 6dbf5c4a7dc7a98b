"""`rapbot`: the root command. Each package adds its own commands through `register(app)`; those
modules import only light things at top level so `rapbot --help` stays fast."""

from __future__ import annotations

from typing import Any

import typer

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
)

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


def main() -> None:
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as error:
        typer.echo("\n".join(settings_error_lines(error)), err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
