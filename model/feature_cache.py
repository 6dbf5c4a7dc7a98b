"""Concept photos encoded once: a bounded cache of the projected image features (what the vision
tower and projector make of a reference photo, the tokens that replace its `<image>`) of stored
views, keyed by (generator id, view id), so every prompt that includes a view reuses them.

RAP puts every retrieved concept's reference photo in the prompt; without the cache a photo answer
runs the vision tower on 1 + K photos (the query and K concepts), with it on the query photo alone.
A view's id carries a digest of its bytes (model.types.view_key), so a changed photo, or a database
whose ids start again, is a new key: old entries are never hit and age out (least recently used
first) when the cache is over its byte budget (RAPBOT_VIEW_CACHE_MB). Entries live where the
generator runs (the GPU), in its dtype: 576 x 4096 x 2 bytes = 4.5 MB a view for a 7B LLaVA.

`VisionStats` counts what went through the vision tower, for the engine's statistics."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache


@dataclass
class VisionStats:
    """Vision-tower work: forward calls, images encoded, cached views reused."""

    calls: int = 0
    images: int = 0
    cache_hits: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"calls": self.calls, "images": self.images, "cache_hits": self.cache_hits}


def tensor_bytes(value: Any) -> int:
    return int(value.numel()) * int(value.element_size())


class FeatureCache:
    """Least-recently-used (key -> feature tensor) map under a byte budget (cachetools); thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._entries: LRUCache[Hashable, Any] = LRUCache(maxsize=max(1, self.max_bytes), getsizeof=tensor_bytes)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return int(self._entries.currsize)

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        if tensor_bytes(value) > self.max_bytes:
            return  # larger than the whole budget: not worth evicting everything for
        with self._lock:
            self._entries[key] = value

    def drop(self, predicate: Any) -> int:
        """Remove the entries whose key satisfies `predicate`; how many were removed."""
        with self._lock:
            gone = [key for key in self._entries if predicate(key)]
            for key in gone:
                del self._entries[key]
            return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
