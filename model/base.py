"""One small typed base for every network: load lazily once, pick the device and dtype, predict,
release memory on unload (in the spirit of Immich's InferenceModel)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from model.batching import free_accelerator_memory

log = logging.getLogger(__name__)

Loaded = TypeVar("Loaded")


def pick_device(preferred: str | None = None) -> str:
    """`preferred` ("cpu", "cuda", "cuda:1") wins; otherwise CUDA when present, else CPU."""
    import torch

    if preferred and preferred != "auto":
        return preferred
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, preferred: str | None = None) -> Any:
    """bf16 on GPUs that support it (fp16 otherwise), fp32 on CPU; `preferred` overrides."""
    import torch

    if preferred and preferred != "auto":
        return getattr(torch, preferred)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class InferenceModel(ABC, Generic[Loaded]):
    """Subclasses implement `_load()` (build or read the network, return what predict needs) and
    their own predict-style methods, which call `self.loaded` to get it. Loading happens once, on
    first use, under a lock, so a worker process that never needs a network never pays for it."""

    name: str = "model"

    def __init__(self, device: str | None = None, dtype: str | None = None) -> None:
        self._device_pref = device
        self._dtype_pref = dtype
        self._loaded: Loaded | None = None
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        return pick_device(self._device_pref)

    @property
    def dtype(self) -> Any:
        return pick_dtype(self.device, self._dtype_pref)

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    @property
    def loaded(self) -> Loaded:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    log.info("loading %s on %s", self.name, self.device)
                    self._loaded = self._load()
        return self._loaded

    def load(self) -> None:
        _ = self.loaded

    @abstractmethod
    def _load(self) -> Loaded: ...

    def unload(self) -> None:
        """Drop the network and give its memory back (GPU memory too)."""
        with self._lock:
            self._loaded = None
        free_accelerator_memory()
