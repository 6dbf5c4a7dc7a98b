"""`rapbot memory reembed`: re-embed every stored view with the configured (or given) encoder after
an encoder change. Heavy imports happen inside the command so `rapbot --help` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from memory.cli import UrlOption, memory_app


def reembed(
    encoder: Annotated[
        str | None,
        typer.Option(
            "--encoder",
            help='Encoder id to embed with, e.g. "open_clip:ViT-L-14-336/openai" '
            "(default: RAPBOT_ENCODER, else the profile's).",
        ),
    ] = None,
    replace: Annotated[
        list[str] | None,
        typer.Option(
            "--from",
            help="Encoder id whose views are replaced (repeatable; default: every other image encoder). "
            'Face encoders ("face:...") are never replaced.',
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Views read and embedded at a time.")] = 32,
    url: UrlOption = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="A progress bar on stderr.")] = True,
) -> None:
    """Re-embed every view of every memory with the encoder, scope by scope (resumable: run it
    again after an interruption), then delete the replaced views. A memory answers photo
    questions with its new embeddings as soon as its own views are done."""
    # SQLAlchemy and the encoder's code load when the command runs, not for `rapbot --help`.
    from memory.cli import cli_url
    from memory.database import create_store_engine, translate_unavailable
    from memory.errors import MemoryStoreError
    from memory.migrate import upgrade
    from model.weights import WeightsMissing
    from worker.domain.reembed import load_encoder
    from worker.domain.reembed import reembed as run_reembed

    try:
        network = load_encoder(encoder)
    except ValueError as error:
        typer.echo(f"Error: unknown encoder: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        target = cli_url(url)
        with translate_unavailable(target):
            upgrade(target)
        engine = create_store_engine(target)
        try:
            report = run_reembed(engine, network, sources=replace, batch_size=batch_size, progress=progress)
        finally:
            engine.dispose()
    except ValueError as error:  # a --from that cannot be replaced
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(2) from None
    except (MemoryStoreError, WeightsMissing) as error:
        typer.echo(f"Error: {getattr(error, 'message', None) or error}", err=True)
        raise typer.Exit(1) from None
    replaced = ", ".join(report.sources) or "none"
    typer.echo(
        f"Re-embedded {report.embedded} views in {report.scopes} memories with {report.encoder} "
        f"(replacing: {replaced}); removed {report.removed} old views."
    )
    if report.unreadable:
        typer.echo(f"{report.unreadable} stored images could not be read; they keep their old embeddings.", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `reembed` to the `rapbot memory` group (memory/cli.py adds that group to `app`)."""
    memory_app.command("reembed")(reembed)
