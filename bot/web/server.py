"""`rapbot web`: the gallery served by uvicorn over the worker's client (in-process on the embedded
defaults, or Celery when RAPBOT_REDIS_URL is set), like the bots. Configuration problems end it
with one line naming the setting; no token or secret is ever printed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import ValidationError
from telegram import Bot

from bot.ratelimit import RequestLimits
from bot.startup import StartupError, describe_validation, open_client
from bot.telegram_bot.settings import TelegramSettings
from bot.web.app import create_app
from bot.web.discord_oauth import DiscordOAuth
from bot.web.identity import SignedInUser
from bot.web.memberships import Memberships
from bot.web.settings import WebSettings
from worker.client import RapClient
from worker.ops.metered import observe_frontend

log = logging.getLogger(__name__)


def url_shapes(public_url: str) -> list[str]:
    return [
        f"gallery: {public_url}/",
        f"Telegram Mini App URL (BotFather): {public_url}/tg",
        f"sign-in page (Login Widget, Discord): {public_url}/login",
        f"Discord OAuth2 redirect: {public_url}/auth/discord/callback",
    ]


def sign_in_methods(settings: WebSettings, telegram: TelegramSettings) -> list[str]:
    """What `rapbot web` says at start about who can sign in (the console's links always work)."""
    found = []
    if telegram.token and telegram.token.get_secret_value().strip():
        found.append("sign-in: Telegram (Mini App and Login Widget)")
    if settings.discord_enabled:
        found.append("sign-in: Discord (OAuth2)")
    if not found:
        found.append(
            "sign-in: only the console's /gallery links (set RAPBOT_TELEGRAM_TOKEN for Telegram, "
            "RAPBOT_WEB_DISCORD_CLIENT_ID and RAPBOT_WEB_DISCORD_CLIENT_SECRET for Discord)"
        )
    return found


def allow_list(telegram: TelegramSettings) -> Callable[[SignedInUser], bool]:
    """Who may use the gallery: whoever may use the bot. RAPBOT_TELEGRAM_ALLOWED_USERS (with the
    owners) applies to every Telegram sign-in and to sessions already open; Discord and the console
    have no allow-list (the console's links are made by the operator)."""
    allowed, owners = telegram.allowed_users, telegram.owner_ids

    def may_use(user: SignedInUser) -> bool:
        if user.platform != "telegram" or not allowed:
            return True
        return user.user_id.isdigit() and (int(user.user_id) in allowed or int(user.user_id) in owners)

    return may_use


def shared_limits(telegram: TelegramSettings) -> dict[str, RequestLimits]:
    """The gallery's writes count against the chat bots' own limits (bot/ratelimit.py: shared
    through Redis when RAPBOT_REDIS_URL is set): Telegram's settings, Discord's, the console's."""
    # The known package-level circle (pyproject's ignore_imports): the gallery reads the platforms'
    # settings while the platforms read the gallery's; kept out of the module's import time.
    from bot.discord_bot.settings import DiscordSettings

    try:
        discord = DiscordSettings()
    except ValidationError:  # the Discord bot would not start either; its defaults hold here
        discord = DiscordSettings.model_construct()
    return {
        "telegram": RequestLimits.create(
            telegram.user_rate_limit, telegram.group_rate_limit, telegram.rate_window_s, namespace="telegram"
        ),
        "discord": RequestLimits.create(
            discord.user_requests_per_minute, discord.guild_requests_per_minute, namespace="discord"
        ),
        "console": RequestLimits.create(telegram.user_rate_limit, telegram.group_rate_limit, namespace="console"),
    }


def build_app(settings: WebSettings, client: RapClient, telegram: TelegramSettings, *, close_client: bool) -> FastAPI:
    """The gallery wired to the platforms: the Telegram Bot API (membership checks; its token
    verifies Telegram sign-ins) and Discord OAuth2, each only when configured."""
    token = telegram.token.get_secret_value().strip() if telegram.token else ""
    discord = DiscordOAuth(settings) if settings.discord_enabled else None
    bot = Bot(token, base_url=telegram.base_url, base_file_url=telegram.base_file_url) if token else None
    memberships = Memberships(
        client, settings.membership_ttl_s, telegram_bot=bot, telegram_owner_ids=telegram.owner_ids, discord=discord
    )
    app = create_app(
        settings,
        client,
        telegram_token=token or None,
        memberships=memberships,
        discord=discord,
        may_use=allow_list(telegram),
        limits=shared_limits(telegram),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # No bot.initialize(): its getMe would make the gallery's start depend on the Bot API, and
        # PTB's InvalidToken message quotes the token. Bot API calls work without it.
        log.info("rapbot web: gallery at %s/", settings.public_url)
        try:
            yield
        finally:
            if bot is not None:
                await bot.request.shutdown()
            if close_client:
                await client.close()

    app.router.lifespan_context = lifespan
    return app


def run(settings: WebSettings | None = None) -> None:
    import uvicorn  # the server itself: loaded by `rapbot web` only, not by `rapbot --help` or the bots

    try:
        settings = settings or WebSettings()
        settings.require_secret()
    except ValidationError as err:
        raise SystemExit(f"rapbot web: {describe_validation(err, 'RAPBOT_WEB_')}") from None
    except ValueError as err:
        raise SystemExit(f"rapbot web: {err}") from None
    try:
        telegram = TelegramSettings()
    except ValidationError as err:
        raise SystemExit(f"rapbot web: {describe_validation(err, 'RAPBOT_TELEGRAM_')}") from None
    for line in sign_in_methods(settings, telegram):
        print(f"rapbot web: {line}", flush=True)
    try:
        client = observe_frontend(open_client())
    except StartupError as err:
        raise SystemExit(f"rapbot web: {err}") from None

    app = build_app(settings, client, telegram, close_client=True)
    for line in url_shapes(settings.public_url):
        print(f"rapbot web: {line}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, proxy_headers=True, log_level="info")
