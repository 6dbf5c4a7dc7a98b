"""Which group memories a signed-in user may open: group memories the platform says they belong to
(Telegram: getChatMember, asked only about the groups the store has seen them in, at most
`lookups` per sign-in; Discord: the OAuth guild list, kept to guilds with a memory), asked at
sign-in and trusted for `membership_ttl_s`, then asked again. A platform or store that fails
leaves the groups it could not confirm out (with a log line naming neither token nor data), never
an error page."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

import httpx
from telegram import Bot, ChatMember
from telegram.error import BadRequest, TelegramError

from bot.web.discord_oauth import DiscordOAuth, Guild
from bot.web.identity import GroupAccess, SignedInUser, SignInRefused
from worker.client import RapClient
from worker.errors import RapError
from worker.schemas import Requester

log = logging.getLogger(__name__)

MEMBER_STATUSES = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER})
MODERATOR_STATUSES = frozenset({ChatMember.ADMINISTRATOR, ChatMember.OWNER})
PARALLEL_LOOKUPS = 8  # getChatMember calls in flight at once (Bot API rate limits)
MAX_USERS = 10_000  # cached users per process
FAILED_TTL_S = 30.0  # after a failed refresh, the groups stay left out this long before asking again


class Memberships:
    def __init__(
        self,
        client: RapClient,
        ttl_s: float,
        telegram_bot: Bot | None = None,
        telegram_owner_ids: frozenset[int] = frozenset(),
        discord: DiscordOAuth | None = None,
        clock: Callable[[], float] = time.monotonic,
        lookups: int = 50,
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._bot = telegram_bot
        self._owner_ids = telegram_owner_ids
        self._discord = discord
        self._clock = clock
        self._lookups = max(1, lookups)  # Telegram groups asked about per sign-in, newest seen first
        self._known: dict[tuple[str, str], tuple[float, list[GroupAccess]]] = {}
        self._discord_tokens: dict[str, str] = {}  # user id -> access token (this process only)

    async def groups(self, user: SignedInUser) -> list[GroupAccess] | None:
        """The user's groups; None when they cannot be asked again (a Discord token this process
        never saw, e.g. after a restart): the user signs in again."""
        key = (user.platform, user.user_id)
        cached = self._known.get(key)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        if user.platform == "telegram":
            found = await self._telegram_groups(user)
        elif user.platform == "discord" and self._discord and user.user_id in self._discord_tokens:
            try:
                guilds = await self._discord.guilds(self._discord_tokens[user.user_id])
            except (SignInRefused, httpx.HTTPError) as err:  # a revoked token, Discord down, not JSON
                log.warning("Discord guild refresh failed (%s): groups left out for now", type(err).__name__)
                self._remember(key, [], ttl_s=min(self._ttl_s, FAILED_TTL_S))
                return []
            found = await self._discord_groups(user, guilds)
        else:
            return None
        self._remember(key, found)
        return found

    async def discord_signed_in(self, user: SignedInUser, access_token: str, guilds: list[Guild]) -> None:
        if len(self._discord_tokens) >= MAX_USERS:
            self._discord_tokens.clear()
        self._discord_tokens[user.user_id] = access_token
        self._remember((user.platform, user.user_id), await self._discord_groups(user, guilds))

    def signed_in_with(self, user: SignedInUser, groups: list[GroupAccess]) -> None:
        """Groups vouched for by the sign-in itself (a console link names the one group it was made
        in): there is no platform to ask again, so they hold for the session."""
        self._remember((user.platform, user.user_id), groups, ttl_s=math.inf)

    def forget(self, user: SignedInUser) -> None:
        """Sign-out: the next sign-in asks the platform afresh."""
        self._known.pop((user.platform, user.user_id), None)
        if user.platform == "discord":
            self._discord_tokens.pop(user.user_id, None)

    def _remember(self, key: tuple[str, str], found: list[GroupAccess], ttl_s: float | None = None) -> None:
        if len(self._known) >= MAX_USERS:
            self._known.clear()
        self._known[key] = (self._clock() + (self._ttl_s if ttl_s is None else ttl_s), found)

    async def _known_groups(self, user: SignedInUser, candidates: list[str] | None = None) -> list[str]:
        who = Requester(platform=user.platform, user_id=user.user_id)
        try:
            return await self._client.group_chats(who, candidates)
        except RapError as err:
            log.warning("the store did not list groups (%s): groups left out of this sign-in", err.code)
            return []

    async def _discord_groups(self, user: SignedInUser, guilds: list[Guild]) -> list[GroupAccess]:
        known = set(await self._known_groups(user, [g.id for g in guilds]))
        return [GroupAccess(g.id, g.name, g.moderator) for g in guilds if g.id in known]

    async def _telegram_groups(self, user: SignedInUser) -> list[GroupAccess]:
        if self._bot is None:
            return []
        bot = self._bot
        user_id = user.user_id
        gate = asyncio.Semaphore(PARALLEL_LOOKUPS)
        owner = int(user_id) in self._owner_ids

        async def check(chat_id: str) -> GroupAccess | None:
            async with gate:
                try:
                    member = await bot.get_chat_member(int(chat_id), int(user_id))
                except BadRequest:
                    return None  # not a member, or a chat the bot left
                except (TelegramError, ValueError) as err:  # never the error's text: it may hold the token
                    log.warning(
                        "getChatMember failed (%s): chat %s left out of this sign-in", type(err).__name__, chat_id
                    )
                    return None
                belongs = member.status in MEMBER_STATUSES or (
                    member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False))
                )
                if not belongs:
                    return None
                try:
                    title = (await bot.get_chat(int(chat_id))).title or chat_id
                except TelegramError:
                    title = chat_id
                return GroupAccess(chat_id, title, owner or member.status in MODERATOR_STATUSES)

        chats = await self._known_groups(user)
        if len(chats) > self._lookups:
            log.info("sign-in: %d groups seen, asking about the %d newest", len(chats), self._lookups)
        found = await asyncio.gather(*(check(chat) for chat in chats[: self._lookups]))
        return [access for access in found if access is not None]
