"""LocalClient: the pipeline in this process (the embedded default, no Redis). Blocking work runs
in a thread (asyncio.to_thread) so a bot's event loop stays responsive; concurrent chats meet in
the serving engine, which batches them. Pending choices live in this process's memory."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from worker.client import RapClient
from worker.domain.pending import InMemoryPendingStore
from worker.domain.runtime import Runtime
from worker.settings import WorkerSettings

if TYPE_CHECKING:
    from memory.settings import MemorySettings
    from memory.store import MemoryStore
    from model.types import ModelBundle


class LocalClient(RapClient):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @classmethod
    def open(
        cls,
        settings: WorkerSettings | None = None,
        memory_settings: MemorySettings | None = None,
        bundle: ModelBundle | None = None,
    ) -> LocalClient:
        """Open the store from RAPBOT_ settings (embedded Postgres by default) and the profile's networks."""
        settings = settings or WorkerSettings()
        pending = InMemoryPendingStore(settings.pending_ttl_s)
        return cls(Runtime.open(settings, pending, memory_settings, bundle))

    @classmethod
    def for_store(cls, store: MemoryStore, bundle: ModelBundle, settings: WorkerSettings | None = None) -> LocalClient:
        """Over an open store and bundle (tests, embedding in another program)."""
        settings = settings or WorkerSettings()
        pending = InMemoryPendingStore(settings.pending_ttl_s)
        return cls(Runtime(store, settings, pending, bundle))

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.runtime.call, method, **kwargs)

    async def close(self) -> None:
        await asyncio.to_thread(self.runtime.close)
