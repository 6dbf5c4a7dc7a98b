"""Who moderates a group: its administrators and owner (getChatMember) and the bot's owners.
Answers are cached for a few minutes and refreshed at once when Telegram reports a member change
(chat_member updates). Anonymous admins, who post as the group, are recognised by Services.requester."""

from __future__ import annotations

import time
from collections.abc import Callable

from telegram import Bot, ChatMember, ChatMemberUpdated
from telegram.error import TelegramError

MODERATOR_STATUSES = frozenset({ChatMember.ADMINISTRATOR, ChatMember.OWNER})


class ModeratorCache:
    def __init__(self, ttl_s: float, owner_ids: frozenset[int], clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._owner_ids = owner_ids
        self._clock = clock
        self._known: dict[tuple[int, int], tuple[float, bool]] = {}  # (chat, user) -> (expires, moderator)

    async def check(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        if user_id in self._owner_ids:
            return True
        cached = self._known.get((chat_id, user_id))
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramError:
            return False  # not known to the chat: certainly no moderator; ask again next time
        moderator = member.status in MODERATOR_STATUSES
        self._known[(chat_id, user_id)] = (self._clock() + self._ttl_s, moderator)
        return moderator

    def member_changed(self, change: ChatMemberUpdated) -> None:
        """A promotion or demotion takes effect at once, not when the cache entry expires."""
        user_id = change.new_chat_member.user.id
        moderator = change.new_chat_member.status in MODERATOR_STATUSES
        self._known[(change.chat.id, user_id)] = (self._clock() + self._ttl_s, moderator)
