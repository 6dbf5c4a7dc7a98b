"""The request limits every chat frontend shares."""

from __future__ import annotations

from bot.ratelimit import RequestLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_user_over_the_limit_waits_until_the_window_passes() -> None:
    clock = Clock()
    limits = RequestLimits.create(user_limit=2, chat_limit=100, clock=clock)
    assert limits.try_acquire(1, None) is None
    assert limits.try_acquire(1, None) is None
    wait = limits.try_acquire(1, None)
    assert wait is not None and 0 < wait <= 60
    assert limits.try_acquire(2, None) is None  # another user is not held back
    clock.now += 61
    assert limits.try_acquire(1, None) is None


def test_a_busy_guild_holds_back_its_members_but_not_dms() -> None:
    limits = RequestLimits.create(user_limit=100, chat_limit=2, clock=Clock())
    assert limits.try_acquire(1, 50) is None
    assert limits.try_acquire(2, 50) is None
    assert limits.try_acquire(3, 50) is not None
    assert limits.try_acquire(3, 51) is None
    assert limits.try_acquire(3, None) is None
