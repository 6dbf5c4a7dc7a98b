"""What one process needs to serve requests: the store, and (unless it serves the store alone) one
copy of the networks behind the serving engine (model/engine.py), which batches the concurrent
requests of every thread that calls it. Nothing here locks the networks: the engine's serving
threads own them. A CUDA out-of-memory error is handled per request inside the engine (free the
cache, retry with a smaller batch, then fail only that request); the process stays on its GPU."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from memory.settings import MemorySettings
from memory.store import MemoryStore
from model.batching import check_deadline
from model.engine import ServingEngine
from model.profiles import load_bundle
from model.types import ModelBundle
from worker.client import OPERATIONS
from worker.domain.failures import as_rap_error
from worker.domain.pending import PendingStore
from worker.domain.pipeline import Pipeline
from worker.domain.service import RapService
from worker.errors import BAD_REQUEST, RapError
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


def _check_deadline_before_commit() -> None:
    check_deadline("the write")


def load_configured_bundle() -> ModelBundle:
    """The networks of RAPBOT_PROFILE; model/ loads each on first use."""
    return load_bundle()


class Runtime:
    def __init__(
        self,
        store: MemoryStore,
        settings: WorkerSettings,
        pending: PendingStore,
        bundle: ModelBundle | None = None,
        *,
        serve_models: bool = True,
    ) -> None:
        """`serve_models=False`: a store-only process (`rapbot worker --role store`) that loads and
        imports no network; requests that need one are refused."""
        self.store = store
        # Every write, store-queue ones included, is checked against its request's deadline right
        # before it commits: a request its client gave up on writes nothing, however late it wakes.
        store.before_commit = _check_deadline_before_commit
        self.settings = settings
        self.engine: ServingEngine | None = None
        pipeline: Pipeline | None = None
        if serve_models:
            self.engine = ServingEngine(bundle or load_configured_bundle())
            pipeline = Pipeline(store, self.engine.bundle, settings, pending)
        self.service = RapService(store, pipeline, pending)

    @classmethod
    def open(
        cls,
        settings: WorkerSettings,
        pending: PendingStore,
        memory_settings: MemorySettings | None = None,
        bundle: ModelBundle | None = None,
        *,
        serve_models: bool = True,
    ) -> Runtime:
        memory_settings = memory_settings or MemorySettings()
        try:
            store = MemoryStore.open(memory_settings)
        except Exception as exc:
            raise as_rap_error(exc) from exc
        return cls(store, settings, pending, bundle, serve_models=serve_models)

    def call(self, method: str, **kwargs: Any) -> Any:
        """Run one operation of the table (worker.client.OPERATIONS) on the service (from any thread);
        every failure leaves as a RapError."""
        if method not in OPERATIONS:
            raise RapError(BAD_REQUEST, "That is not something this bot can do.")
        function: Callable[..., Any] = getattr(self.service, method)
        try:
            return function(**kwargs)
        except Exception as exc:
            raise as_rap_error(exc) from exc

    def engine_stats(self) -> dict[str, dict[str, float]] | None:
        return self.engine.stats() if self.engine is not None else None

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        close = getattr(self.store, "close", None)
        if callable(close):
            close()
