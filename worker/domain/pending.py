"""Requests waiting for the user's next word: a remember waiting for the choice among several
candidate boxes, and a recognised crop waiting for "yes, that's bo" / "no" (worker/domain/learning.py).

Where they live: in process memory for the LocalClient (one process, nothing to share), in Redis
for Celery (worker.transport.redis_pending: any worker may get the follow-up `choose` or
`feedback`). Either way they expire (after RAPBOT_PENDING_TTL_S unless put with another time to
live), and they never touch the database: an abandoned choice leaves nothing behind."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from worker.schemas import Box


class PendingRemember(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    scope_id: int
    user_id: str
    moderator: bool
    name: str
    description: str
    image: bytes  # the photo as the user sent it
    boxes: list[Box]
    labels: list[str]
    request_id: str | None = None


Item = TypeVar("Item", bound=BaseModel)


class PendingStore(Protocol):
    def put(self, pending: BaseModel, ttl_s: int | None = None, key: str | None = None) -> str:
        """Keep an item; returns its id (`key`, or a new random one)."""
        ...

    def get(self, pending_id: str, kind: type[Item] = PendingRemember) -> Item | None:  # type: ignore[assignment]
        """The item under that id when it is of that kind (an id of another kind reads as none)."""
        ...

    def delete(self, pending_id: str) -> None: ...


def new_pending_id() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()


class InMemoryPendingStore:
    """Thread-safe dict with a time-to-live, for the in-process client."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._items: dict[str, tuple[float, BaseModel]] = {}
        self._lock = threading.Lock()

    def put(self, pending: BaseModel, ttl_s: int | None = None, key: str | None = None) -> str:
        pending_id = key or new_pending_id()
        with self._lock:
            self._drop_expired()
            self._items[pending_id] = (time.monotonic() + (ttl_s or self._ttl_s), pending)
        return pending_id

    def get(self, pending_id: str, kind: type[Item] = PendingRemember) -> Item | None:  # type: ignore[assignment]
        with self._lock:
            self._drop_expired()
            item = self._items.get(pending_id)
        return item[1] if item and isinstance(item[1], kind) else None

    def delete(self, pending_id: str) -> None:
        with self._lock:
            self._items.pop(pending_id, None)

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for key in [key for key, (expires, _) in self._items.items() if expires < now]:
            del self._items[key]
