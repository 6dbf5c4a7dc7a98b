"""Building and running the Telegram application: `build_application(settings, client)` wires the
handlers to a python-telegram-bot Application (any Bot API server via base_url), `run()` starts it
with polling or a webhook."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError
from telegram import BotCommand, Update
from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    MessageHandler,
    filters,
)

from bot.replies import _HELP_LINES
from bot.telegram_bot import handlers
from bot.telegram_bot.redact import protect_logs
from bot.telegram_bot.services import SERVICES_KEY, Services
from bot.telegram_bot.settings import TelegramSettings
from worker.client import RapClient

log = logging.getLogger(__name__)


class RetryingRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter retries RetryAfter (flood control); this also retries network errors
    (a dropped connection, a 502 from Telegram), so a reply is delayed rather than lost."""

    async def process_request(
        self, callback: Any, args: Any, kwargs: Any, endpoint: str, data: Any, rate_limit_args: Any
    ) -> Any:  # type: ignore[override]
        attempts = (rate_limit_args or self._max_retries) + 1
        for attempt in range(attempts):
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except (RetryAfter, BadRequest):
                # RetryAfter: the parent has already waited and retried as often as allowed.
                # BadRequest (a NetworkError subclass in PTB) would fail the same way again.
                raise
            except NetworkError:
                if attempt == attempts - 1:
                    raise
                log.info("network error calling %s; retrying (%d of %d)", endpoint, attempt + 1, attempts - 1)
                await asyncio.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")  # pragma: no cover


def menu_commands() -> list[BotCommand]:
    """The command menu Telegram shows next to the text field (set with setMyCommands)."""
    wanted = ("remember", "addphoto", "concepts", "show", "edit", "rename", "forget", "share", "export", "forgetme")
    descriptions = dict(_HELP_LINES)
    return [BotCommand("help", "how to use me, with examples")] + [BotCommand(n, descriptions[n]) for n in wanted]


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    await application.bot.set_my_commands(menu_commands())


def build_application(settings: TelegramSettings, client: RapClient) -> Application:  # type: ignore[type-arg]
    """The whole bot, not started: `async with app: await app.start(); await app.updater.start_polling()`."""
    token = settings.require_token()
    protect_logs(token)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.base_url)
        .base_file_url(settings.base_file_url)
        .rate_limiter(RetryingRateLimiter(max_retries=settings.max_retries))
        .concurrent_updates(True)  # one slow generation must not hold up every other chat
        .post_init(_post_init)
        .build()
    )
    application.bot_data[SERVICES_KEY] = Services.create(settings, client, handlers.on_album)
    everything_but_service_messages = filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL
    application.add_handler(MessageHandler(everything_but_service_messages, handlers.on_message))
    application.add_handler(CallbackQueryHandler(handlers.on_button))
    application.add_handler(ChatMemberHandler(handlers.on_member_change, ChatMemberHandler.CHAT_MEMBER))
    application.add_error_handler(handlers.on_error)
    return application


def webhook_options(settings: TelegramSettings) -> dict[str, Any]:
    """Arguments of run_webhook / start_webhook: Telegram posts to webhook_url/webhook_path, and
    requests without the secret token header are refused with 403."""
    assert settings.webhook_url is not None
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": settings.webhook_path,
        "webhook_url": f"{settings.webhook_url.rstrip('/')}/{settings.webhook_path.lstrip('/')}",
        "secret_token": settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        # chat_member updates (admin changes) are only sent when asked for explicitly.
        "allowed_updates": Update.ALL_TYPES,
    }


def run(settings: TelegramSettings | None = None, client: RapClient | None = None) -> None:
    """`rapbot telegram`: run the bot until interrupted (polling, or a webhook when configured).
    Configuration problems end it with a one-line message that never holds the token."""
    try:
        settings = settings or TelegramSettings()
        settings.require_token()
    except (ValidationError, ValueError) as err:
        raise SystemExit(f"rapbot telegram: {err}") from None
    if client is None:
        from worker.factory import get_client  # loads the pipeline: imported late to keep the CLI light

        client = get_client()
    application = build_application(settings, client)
    opened = client

    async def close_client(_: Application) -> None:  # type: ignore[type-arg]
        await opened.close()

    application.post_shutdown = close_client
    try:
        if settings.webhook_url is None:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
        else:
            application.run_webhook(**webhook_options(settings))
    except InvalidToken:
        # PTB's own message quotes the token: never let it reach the terminal or a log.
        raise SystemExit(
            "rapbot telegram: the Bot API server rejected RAPBOT_TELEGRAM_TOKEN. "
            "Check the token with @BotFather (/mybots -> API Token)."
        ) from None
