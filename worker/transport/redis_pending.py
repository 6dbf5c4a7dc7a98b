"""Pending choices and recognised crops kept in Redis, shared by every Celery worker (the domain's
`PendingStore`, worker.domain.pending)."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError
from redis import Redis

from worker.domain.pending import Item, PendingRemember, new_pending_id


class RedisPendingStore:
    """One Redis key per pending choice, expiring on its own, shared by every worker."""

    def __init__(self, redis_client: Redis, ttl_s: int, prefix: str = "rapbot:pending:") -> None:
        self._redis = redis_client
        self._ttl_s = ttl_s
        self._prefix = prefix

    def put(self, pending: BaseModel, ttl_s: int | None = None, key: str | None = None) -> str:
        pending_id = key or new_pending_id()
        self._redis.set(self._prefix + pending_id, pending.model_dump_json(), ex=ttl_s or self._ttl_s)
        return pending_id

    def get(self, pending_id: str, kind: type[Item] = PendingRemember) -> Item | None:  # type: ignore[assignment]
        raw = self._redis.get(self._prefix + pending_id)
        if not raw:
            return None
        try:
            return kind.model_validate_json(raw)  # type: ignore[arg-type]
        except ValidationError:  # an id of another kind of pending request
            return None

    def delete(self, pending_id: str) -> None:
        self._redis.delete(self._prefix + pending_id)
