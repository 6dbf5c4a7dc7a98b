"""Per-user and per-guild request limits (sliding one-minute windows), so one user or one busy guild
cannot monopolise the worker."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_S = 60.0


@dataclass
class SlidingWindow:
    """At most `limit` events per key in any `WINDOW_S` seconds."""

    limit: int
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def wait_time(self, key: str) -> float:
        """Seconds until `key` may act again; 0 when it may act now."""
        now = self.clock()
        events = self._events[key]
        while events and now - events[0] >= WINDOW_S:
            events.popleft()
        if len(events) < self.limit:
            return 0.0
        return WINDOW_S - (now - events[0])

    def record(self, key: str) -> None:
        self._events[key].append(self.clock())


@dataclass
class RequestLimits:
    """A request passes only when both the user and their guild are under their limits."""

    per_user: SlidingWindow
    per_guild: SlidingWindow

    @classmethod
    def per_minute(
        cls, user_limit: int, guild_limit: int, clock: Callable[[], float] = time.monotonic
    ) -> RequestLimits:
        return cls(SlidingWindow(user_limit, clock), SlidingWindow(guild_limit, clock))

    def try_acquire(self, user_id: int, guild_id: int | None) -> float | None:
        """None when allowed (and counted), else the seconds to wait."""
        user_wait = self.per_user.wait_time(str(user_id))
        if user_wait > 0:
            return user_wait
        if guild_id is not None:
            guild_wait = self.per_guild.wait_time(str(guild_id))
            if guild_wait > 0:
                return guild_wait
            self.per_guild.record(str(guild_id))
        self.per_user.record(str(user_id))
        return None
