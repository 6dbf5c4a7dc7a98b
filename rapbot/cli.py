"""`rapbot`: the root command. Each package adds its own commands through `register(app)`; those
modules import only light things at top level so `rapbot --help` stays fast."""

from __future__ import annotations

import typer

from bot.cli import register as register_bot
from memory.cli import register as register_memory
from model.cli import register as register_model
from training.cli import register as register_training
from worker.cli import register as register_worker

app = typer.Typer(
    name="rapbot",
    help="A personal visual memory for chat: remember your things and people from one photo each.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
)

for register in (register_memory, register_model, register_worker, register_bot, register_training):
    register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
