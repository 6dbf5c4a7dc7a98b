"""What one process needs to serve requests: the store, the networks (loaded lazily, once) and
the service over them, plus the one recovery we attempt: a CUDA out-of-memory error is retried
once with the networks on the CPU, then reported."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from worker.dispatch import MODEL_METHODS
from worker.failures import as_rap_error, is_out_of_memory
from worker.pending import PendingStore
from worker.pipeline import Pipeline
from worker.service import RapService
from worker.settings import WorkerSettings

if TYPE_CHECKING:
    from memory.settings import MemorySettings
    from memory.store import MemoryStore
    from model.types import ModelBundle

log = logging.getLogger(__name__)

BundleLoader = Callable[[str | None, str | None], "ModelBundle"]  # (profile, device); None: as configured


def load_configured_bundle(profile: str | None = None, device: str | None = None) -> ModelBundle:
    """The networks of `profile` (default RAPBOT_PROFILE); model/ loads each on first use."""
    from model.profiles import load_bundle
    from model.settings import ModelSettings

    settings = ModelSettings() if device is None else ModelSettings(device=device)
    return load_bundle(profile, settings)


class Runtime:
    def __init__(
        self,
        store: MemoryStore,
        settings: WorkerSettings,
        pending: PendingStore,
        bundle: ModelBundle | None = None,
        bundle_loader: BundleLoader = load_configured_bundle,
    ) -> None:
        self.store = store
        self.settings = settings
        self._bundle_loader = bundle_loader
        self._pipeline = Pipeline(store, bundle or bundle_loader(None, None), settings, pending)
        self.service = RapService(store, self._pipeline)
        self.model_lock = threading.Lock()  # one request at a time inside the networks
        self._on_cpu = False

    @classmethod
    def open(
        cls,
        settings: WorkerSettings,
        pending: PendingStore,
        memory_settings: MemorySettings | None = None,
        bundle: ModelBundle | None = None,
    ) -> Runtime:
        from memory.settings import MemorySettings
        from memory.store import MemoryStore

        memory_settings = memory_settings or MemorySettings()
        try:
            store = MemoryStore.open(memory_settings)
        except Exception as exc:
            raise as_rap_error(exc) from exc
        return cls(store, settings, pending, bundle)

    def call(self, method: str, **kwargs: Any) -> Any:
        """Run one service method; every failure leaves as a RapError."""
        function = getattr(self.service, method)
        if method not in MODEL_METHODS:
            return self._guarded(function, kwargs)
        with self.model_lock:
            try:
                return function(**kwargs)
            except Exception as exc:
                if not is_out_of_memory(exc) or self._on_cpu:
                    raise as_rap_error(exc) from exc
                log.warning("CUDA out of memory in %s: retrying once on the CPU", method)
                self._move_to_cpu()
                return self._guarded(function, kwargs)

    @staticmethod
    def _guarded(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        try:
            return function(**kwargs)
        except Exception as exc:
            raise as_rap_error(exc) from exc

    def _move_to_cpu(self) -> None:
        old = self._pipeline.bundle
        for network in (old.encoder, old.detector, old.generator):
            unload = getattr(network, "unload", None)
            if callable(unload):
                unload()
        self._pipeline.bundle = self._bundle_loader(old.profile, "cpu")
        self._on_cpu = True

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if callable(close):
            close()
