"""/gallery in the console prints where `rapbot web` serves this chat's memory (the console runs on
the same machine, so the local default URL will do; RAPBOT_WEB_PUBLIC_URL overrides it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.console import ConsoleSession, make_requester
from bot.settings import ConsoleSettings
from memory.store import MemoryStore
from worker.domain.pending import InMemoryPendingStore
from worker.domain.runtime import Runtime
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient


@pytest.fixture
def store_client(database_url: str) -> Iterator[LocalClient]:
    """The console's client serving the memory only: /gallery needs no network."""
    store = MemoryStore(database_url)
    settings = WorkerSettings()
    yield LocalClient(Runtime(store, settings, InMemoryPendingStore(settings.pending_ttl_s), serve_models=False))
    store.close()


async def test_console_prints_the_gallery_url(
    store_client: LocalClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAPBOT_WEB_PUBLIC_URL", raising=False)
    monkeypatch.setenv("RAPBOT_WEB_PORT", "8181")
    monkeypatch.delenv("RAPBOT_WEB_SESSION_SECRET", raising=False)
    monkeypatch.setenv("RAPBOT_INVOKED_AS", "scripts/rapbot")  # as scripts/rapbot sets it
    mine = ConsoleSession(store_client, make_requester("ann", None, False), tmp_path, ConsoleSettings())
    first, *rest = (await mine.handle_line("/gallery")).splitlines()
    assert first == "This chat's memory as a photo gallery: http://127.0.0.1:8181/m/me"
    # No session secret: no dead end, the reply says what to set to get a sign-in link.
    assert len(rest) == 1 and "set the same RAPBOT_WEB_SESSION_SECRET" in rest[0] and "scripts/rapbot web" in rest[0]

    monkeypatch.setenv("RAPBOT_WEB_PUBLIC_URL", "https://photos.example.org")
    group = ConsoleSession(store_client, make_requester("ann", "family", False), tmp_path, ConsoleSettings())
    assert (await group.handle_line("/gallery")).splitlines()[0].endswith("https://photos.example.org/m/gfamily")
    assert "/gallery" in await group.handle_line("/help")
