"""Per-user and per-group request limits, so one user or one busy group cannot monopolise the
worker. aiolimiter's leaky bucket per key; a request over the limit is refused, not queued."""

from __future__ import annotations

from aiolimiter import AsyncLimiter


class RequestLimits:
    def __init__(self, user_limit: int, group_limit: int, window_s: float) -> None:
        self._user_limit, self._group_limit, self._window_s = user_limit, group_limit, window_s
        self._users: dict[int, AsyncLimiter] = {}
        self._groups: dict[int, AsyncLimiter] = {}

    def _limiter(self, table: dict[int, AsyncLimiter], key: int, limit: int) -> AsyncLimiter:
        if key not in table:
            if len(table) > 10_000:  # forget idle keys so the tables cannot grow without bound
                for idle in [k for k, v in table.items() if v.has_capacity(v.max_rate)]:
                    del table[idle]
            table[key] = AsyncLimiter(limit, self._window_s)
        return table[key]

    async def try_acquire(self, user_id: int, group_id: int | None) -> float:
        """0 when the request may go ahead (and is counted); else about how many seconds to wait."""
        user = self._limiter(self._users, user_id, self._user_limit)
        group = self._limiter(self._groups, group_id, self._group_limit) if group_id is not None else None
        if not user.has_capacity():
            return self._window_s / self._user_limit
        if group is not None and not group.has_capacity():
            return self._window_s / self._group_limit
        await user.acquire()
        if group is not None:
            await group.acquire()
        return 0.0
