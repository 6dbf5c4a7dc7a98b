"""Per-user and per-chat request limits shared by every frontend (the chat bots and the gallery's
writes), so one user or one busy group cannot monopolise the worker. A moving window of the
`limits` package; a request over the limit is refused, not queued.

The counters live in Redis when RAPBOT_REDIS_URL is set, so every process (each bot, the gallery,
their replicas) counts against the same limits; otherwise in this process. Keys are
`<namespace>:<user|chat>:<id>` with the platform as namespace, so a Telegram user's gallery writes
and chat requests are one count. A Redis that cannot be reached lets requests through (logged)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from worker.settings import WorkerSettings

log = logging.getLogger(__name__)
MEMORY = "memory://"


def shared_storage_uri() -> str:
    """Redis when the deployment has one (RAPBOT_REDIS_URL), else this process's memory."""

    redis_url = WorkerSettings().redis_url
    return redis_url if redis_url else MEMORY


@dataclass
class RequestLimits:
    """A request passes only when both the user and their chat (group, guild) are under their limits."""

    limiter: MovingWindowRateLimiter
    per_user: RateLimitItem
    per_chat: RateLimitItem
    namespace: str = ""

    @classmethod
    def create(
        cls,
        user_limit: int,
        chat_limit: int,
        window_s: float = 60.0,
        *,
        namespace: str = "",
        storage_uri: str | None = None,
    ) -> RequestLimits:
        """`namespace`: the platform ("telegram", "discord", "console"), shared by its frontends;
        `storage_uri`: a `limits` storage (default: shared_storage_uri())."""
        storage = cast(Storage, storage_from_string(storage_uri or shared_storage_uri()))  # a sync URI
        window = max(1, math.ceil(window_s))
        return cls(
            MovingWindowRateLimiter(storage),
            RateLimitItemPerSecond(user_limit, window),
            RateLimitItemPerSecond(chat_limit, window),
            namespace,
        )

    def _wait(self, item: RateLimitItem, *key: str) -> float:
        reset = self.limiter.get_window_stats(item, *key).reset_time
        return max(0.001, reset - time.time())

    def try_acquire(self, user_id: Hashable, chat_id: Hashable | None) -> float | None:
        """None when allowed (and counted), else the seconds to wait."""
        user_key = (self.namespace, "user", str(user_id))
        chat_key = (self.namespace, "chat", str(chat_id))
        try:
            if not self.limiter.test(self.per_user, *user_key):
                return self._wait(self.per_user, *user_key)
            if chat_id is not None and not self.limiter.hit(self.per_chat, *chat_key):
                return self._wait(self.per_chat, *chat_key)
            if not self.limiter.hit(self.per_user, *user_key):  # another process took the last one
                return self._wait(self.per_user, *user_key)
        except Exception as err:
            log.warning("request limits unavailable (%s): request let through", type(err).__name__)
        return None
