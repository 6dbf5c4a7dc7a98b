"""Commands of training/ for the `rapbot` command line (placeholder until training/ fills it in)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
