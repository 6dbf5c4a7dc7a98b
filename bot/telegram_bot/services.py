"""What every handler needs, kept once per application in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Bot, Chat
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.dispatch import KeptAnswers, Waiting
from bot.ratelimit import RequestLimits
from bot.telegram_bot.albums import AlbumCollector, AlbumHandler
from bot.telegram_bot.confirmations import Confirmations
from bot.telegram_bot.moderators import ModeratorCache
from bot.telegram_bot.settings import TelegramSettings
from bot.web.settings import WebSettings
from worker.client import RapClient
from worker.schemas import Requester

SERVICES_KEY = "rapbot"
PLATFORM = "telegram"


@dataclass
class Services:
    settings: TelegramSettings
    client: RapClient
    moderators: ModeratorCache
    limits: RequestLimits
    albums: AlbumCollector
    confirmations: Confirmations = field(default_factory=Confirmations)
    # The remembers waiting for a choice, per (chat, user), oldest first: lets `/choose 2` work like the buttons.
    pending: dict[tuple[int, int], list[Waiting]] = field(default_factory=dict)
    # What the last photo answer recognised, per (chat, user): lets a typed `/yes` work like the buttons.
    answered: KeptAnswers = field(default_factory=KeptAnswers)
    # The web gallery's public URL (RAPBOT_WEB_PUBLIC_URL); None: /gallery says it is not set up.
    gallery_url: str | None = None

    @classmethod
    def create(cls, settings: TelegramSettings, client: RapClient, on_album: AlbumHandler) -> Services:
        return cls(
            albums=AlbumCollector(settings.album_wait_s, on_album),
            settings=settings,
            client=client,
            moderators=ModeratorCache(settings.moderator_cache_ttl_s, settings.owner_ids),
            limits=RequestLimits.create(
                settings.user_rate_limit, settings.group_rate_limit, settings.rate_window_s, namespace=PLATFORM
            ),
            gallery_url=WebSettings().announced_url,
        )

    async def requester(self, bot: Bot, chat: Chat, user_id: int, sender_chat: Chat | None = None) -> Requester:
        """Private chat: the user's own memory. Group: the group's memory, moderator per chat rights
        (an anonymous admin posts as the group itself: `sender_chat` is the group)."""
        if chat.type == ChatType.PRIVATE:
            return Requester(platform=PLATFORM, user_id=str(user_id), chat_kind="user")
        anonymous_admin = sender_chat is not None and sender_chat.id == chat.id
        moderator = anonymous_admin or await self.moderators.check(bot, chat.id, user_id)
        return Requester(
            platform=PLATFORM, user_id=str(user_id), chat_kind="group", chat_id=str(chat.id), moderator=moderator
        )


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found: Services = context.application.bot_data[SERVICES_KEY]
    return found
