"""Postgres stops and comes back while a frontend's client stays up: requests in between get the
"memory database is not reachable" reply and change nothing, and the same client works again once
the database is back, with everything stored before still there (no restart of rapbot needed).

A private embedded Postgres (pgserver), so stopping it disturbs no other test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pgserver
import pytest
from pgserver._commands import pg_ctl

from memory.database import embedded_pgdata
from memory.settings import MemorySettings
from memory.store import MemoryStore
from worker.domain.failures import DATABASE_DOWN_MESSAGE
from worker.domain.pending import InMemoryPendingStore
from worker.domain.runtime import Runtime
from worker.errors import BACKEND_DOWN, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient

pytestmark = pytest.mark.faults
GROUP = Requester(platform="console", user_id="ann", chat_kind="group", chat_id="family", moderator=True)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="rbrs-", dir="/tmp"))  # short: the socket path has a limit
    try:
        yield folder
    finally:
        pgserver.get_server(embedded_pgdata(folder)).cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def postgres(data_dir: Path, action: str) -> None:
    """pg_ctl as the user pgserver runs Postgres as; `restart` reuses the options it was started with."""
    pgdata = embedded_pgdata(data_dir)
    server = pgserver.get_server(pgdata)
    pg_ctl(["-w", "-m", "fast", "-l", str(pgdata / "log"), action], pgdata=pgdata, user=server.system_user)


async def test_a_postgres_restart_is_survived_without_restarting_rapbot(data_dir: Path) -> None:
    store = MemoryStore.open(MemorySettings(data_dir=data_dir))
    settings = WorkerSettings()
    client = LocalClient(Runtime(store, settings, InMemoryPendingStore(settings.pending_ttl_s), serve_models=False))
    try:
        assert (await client.update_settings(GROUP, similarity_threshold=0.6)).similarity_threshold == 0.6

        postgres(data_dir, "stop")
        for attempt in (client.get_settings(GROUP), client.update_settings(GROUP, locked=True)):
            with pytest.raises(RapError) as down:
                await attempt
            assert down.value.code == BACKEND_DOWN and str(down.value) == DATABASE_DOWN_MESSAGE

        postgres(data_dir, "restart")
        back = await client.get_settings(GROUP)  # the same client: its pool reconnects
        assert (back.similarity_threshold, back.locked) == (0.6, False)  # kept, and the refused write did nothing
        assert (await client.update_settings(GROUP, locked=True)).locked
    finally:
        await client.close()
