"""The request limits every frontend shares (the `limits` package's moving window)."""

from __future__ import annotations

import time

import pytest

from bot.ratelimit import RequestLimits


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)  # the in-memory storage's clock
    return clock


def test_a_user_over_the_limit_waits_until_the_window_passes(clock: Clock) -> None:
    limits = RequestLimits.create(user_limit=2, chat_limit=100, storage_uri="memory://")
    assert limits.try_acquire(1, None) is None
    assert limits.try_acquire(1, None) is None
    wait = limits.try_acquire(1, None)
    assert wait is not None and 0 < wait <= 60
    assert limits.try_acquire(2, None) is None  # another user is not held back
    clock.now += 61
    assert limits.try_acquire(1, None) is None


def test_a_busy_guild_holds_back_its_members_but_not_dms(clock: Clock) -> None:
    limits = RequestLimits.create(user_limit=100, chat_limit=2, storage_uri="memory://")
    assert limits.try_acquire(1, 50) is None
    assert limits.try_acquire(2, 50) is None
    assert limits.try_acquire(3, 50) is not None
    assert limits.try_acquire(3, 51) is None
    assert limits.try_acquire(3, None) is None


def test_two_frontends_of_one_platform_share_one_count(clock: Clock) -> None:
    """The chat bot and the gallery of one platform count a user's requests together (in Redis across
    processes; here one storage, as in one process)."""
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    bot = RequestLimits.create(user_limit=2, chat_limit=100, namespace="telegram", storage_uri="memory://")
    gallery = RequestLimits(MovingWindowRateLimiter(MemoryStorage()), bot.per_user, bot.per_chat, "telegram")
    gallery.limiter = bot.limiter  # the same storage
    assert bot.try_acquire(7, None) is None
    assert gallery.try_acquire("7", None) is None
    assert bot.try_acquire(7, None) is not None
    other = RequestLimits(bot.limiter, bot.per_user, bot.per_chat, "discord")
    assert other.try_acquire(7, None) is None  # another platform's user 7 is another person


def test_an_unreachable_redis_lets_requests_through() -> None:
    limits = RequestLimits.create(user_limit=1, chat_limit=1, storage_uri="redis://127.0.0.1:1/0")
    assert limits.try_acquire(1, 2) is None
