"""Per-user and per-chat request limits shared by every chat frontend, so one user or one busy group
cannot monopolise the worker. Sliding windows; a request over the limit is refused, not queued."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

_MAX_KEYS = 10_000  # forget idle keys past this many, so the tables cannot grow without bound


@dataclass
class SlidingWindow:
    """At most `limit` events per key in any `window_s` seconds."""

    limit: int
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _events: dict[Hashable, deque[float]] = field(default_factory=dict)

    def wait_time(self, key: Hashable) -> float:
        """Seconds until `key` may act again; 0 when it may act now."""
        now = self.clock()
        events = self._events.get(key)
        if events is None:
            return 0.0
        while events and now - events[0] >= self.window_s:
            events.popleft()
        if len(events) < self.limit:
            return 0.0
        return self.window_s - (now - events[0])

    def record(self, key: Hashable) -> None:
        if key not in self._events and len(self._events) >= _MAX_KEYS:
            now = self.clock()
            for idle in [k for k, v in self._events.items() if not v or now - v[-1] >= self.window_s]:
                del self._events[idle]
        self._events.setdefault(key, deque()).append(self.clock())


@dataclass
class RequestLimits:
    """A request passes only when both the user and their chat (group, guild) are under their limits."""

    per_user: SlidingWindow
    per_chat: SlidingWindow

    @classmethod
    def create(
        cls, user_limit: int, chat_limit: int, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> RequestLimits:
        return cls(SlidingWindow(user_limit, window_s, clock), SlidingWindow(chat_limit, window_s, clock))

    def try_acquire(self, user_id: Hashable, chat_id: Hashable | None) -> float | None:
        """None when allowed (and counted), else the seconds to wait."""
        user_wait = self.per_user.wait_time(user_id)
        if user_wait > 0:
            return user_wait
        if chat_id is not None:
            chat_wait = self.per_chat.wait_time(chat_id)
            if chat_wait > 0:
                return chat_wait
            self.per_chat.record(chat_id)
        self.per_user.record(user_id)
        return None
