"""Destructive actions wait for a button press: the action is kept here under a random token
(callback data is too small for a concept name), only its requester may confirm it, and it
expires so an old button cannot fire."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.telegram_bot.buttons import ConfirmKind

_TTL_S = 600.0


@dataclass(frozen=True)
class PendingConfirmation:
    kind: ConfirmKind
    user_id: int
    chat_id: int
    name: str | None = None  # the concept, for "forget"


class Confirmations:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[float, PendingConfirmation]] = {}

    def add(self, confirmation: PendingConfirmation) -> str:
        now = self._clock()
        self._items = {k: v for k, v in self._items.items() if v[0] > now}
        token = secrets.token_urlsafe(12)
        self._items[token] = (now + _TTL_S, confirmation)
        return token

    def take(self, token: str, user_id: int) -> PendingConfirmation | None:
        """The confirmation, removed, when `user_id` asked for it and it has not expired."""
        entry = self._items.get(token)
        if entry is None or entry[0] <= self._clock() or entry[1].user_id != user_id:
            return None
        del self._items[token]
        return entry[1]
