"""Fixtures of the bot tests: real photos from scikit-image, bad files, and the console's client
(built by worker.transport.factory as `rapbot console` builds it) on a migrated database, tiny profile.

The client loads the networks once per module: tests keep apart by using different users and
groups, which is the isolation the product promises anyway."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.console import open_client
from worker.client import RapClient

_names = itertools.count()


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real photos (astronaut, chelsea the cat, coffee), plus a text file and a truncated JPEG."""
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    paths: dict[str, Path] = {}
    for name in ("astronaut", "chelsea", "coffee"):
        path = folder / f"{name}.jpg"
        Image.fromarray(getattr(data, name)()).save(path, quality=90)
        paths[name] = path
    spaced = folder / "my photos"
    spaced.mkdir()
    paths["spaced"] = spaced / "the cat.jpg"
    paths["spaced"].write_bytes(paths["chelsea"].read_bytes())
    paths["text"] = folder / "notes.txt"
    paths["text"].write_text("not a photo at all\n")
    whole = paths["coffee"].read_bytes()
    paths["corrupt"] = folder / "corrupt.jpg"
    paths["corrupt"].write_bytes(whole[: len(whole) // 3])
    paths["missing"] = folder / "missing.jpg"
    return paths


@pytest.fixture(scope="module")
def console_env(pg_server: Any, migrated_template: str) -> Iterator[str]:
    """A fresh migrated database for this module, and the RAPBOT_ settings that point the worker's
    client at it with the tiny profile. Yields the database URL."""
    name = f"bot{os.getpid()}_{next(_names)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {migrated_template};")
    url = pg_server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAPBOT_DATABASE_URL", url)
        patch.setenv("RAPBOT_PROFILE", "tiny")
        patch.delenv("RAPBOT_REDIS_URL", raising=False)
        yield url


@pytest.fixture(scope="module")
def console_client(console_env: str) -> Iterator[RapClient]:
    """The client `rapbot console` would get (worker.transport.factory.get_client), opened once per module."""
    opened = asyncio.run(open_client())
    try:
        yield opened
    finally:
        asyncio.run(opened.close())
