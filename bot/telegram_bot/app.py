"""Building and running the Telegram application: `build_application(settings, client)` wires the
handlers to a python-telegram-bot Application (any Bot API server via base_url), `run()` starts it
with polling or a webhook."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from telegram import BotCommand, BotCommandScopeAllChatAdministrators, BotCommandScopeAllGroupChats, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    MessageHandler,
    filters,
)

from bot.startup import StartupError, open_client
from bot.telegram_bot import handlers, index_photos
from bot.telegram_bot.redact import REDACTED, protect_logs
from bot.telegram_bot.services import SERVICES_KEY, Services
from bot.telegram_bot.settings import TelegramSettings, describe_errors
from worker.client import RapClient
from worker.ops.metered import observe_frontend

log = logging.getLogger(__name__)


class RetryingRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter retries RetryAfter (flood control); this also retries network errors
    (a dropped connection, a 502 from Telegram), so a reply is delayed rather than lost."""

    def __init__(self, max_retries: int) -> None:
        super().__init__(max_retries=max_retries)
        self.network_retries = max_retries

    async def process_request(
        self, callback: Any, args: Any, kwargs: Any, endpoint: str, data: Any, rate_limit_args: Any
    ) -> Any:  # type: ignore[override]
        attempts = (rate_limit_args or self.network_retries) + 1
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


_DESCRIPTIONS = {
    "help": "how to use me, with examples",
    "remember": "remember a thing or person from a photo",
    "addphoto": "add another photo of something I remember",
    "concepts": "list what I remember",
    "show": "show one, with its photos",
    "edit": "change its description",
    "rename": "rename it",
    "forget": "forget it",
    "share": "copy one of yours into this group",
    "gallery": "see this chat's memory as a photo gallery",
    "find": "find photos posted here: /find bo at the beach",
    "index": "index photos posted here, to /find them (on|off)",
    "export": "download everything you stored",
    "forgetme": "erase everything about you",
    "lock": "only moderators may change this group's memory",
    "unlock": "everyone may change this group's memory",
    "threshold": "how sure I must be to recognise something",
    "autocaption": "caption every photo sent to this group",
    "audit": "who changed what, and when",
    "purge": "remove one member's contributions",
}
_PRIVATE_MENU = (
    "help",
    "remember",
    "addphoto",
    "concepts",
    "show",
    "edit",
    "rename",
    "forget",
    "gallery",
    "find",
    "index",
    "export",
    "forgetme",
)
_GROUP_MENU = (
    *("help", "remember", "addphoto", "concepts", "show", "edit", "rename", "forget", "share", "gallery"),
    "find",
)
_ADMIN_MENU = (*_GROUP_MENU, "lock", "unlock", "threshold", "autocaption", "audit", "purge", "index")


def _menu(names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(name, _DESCRIPTIONS[name]) for name in names]


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    """The command menus Telegram shows next to the text field: one for private chats, one for
    group members, and one with the moderation commands for group administrators."""
    bot = application.bot
    await bot.set_my_commands(_menu(_PRIVATE_MENU))
    await bot.set_my_commands(_menu(_GROUP_MENU), scope=BotCommandScopeAllGroupChats())
    await bot.set_my_commands(_menu(_ADMIN_MENU), scope=BotCommandScopeAllChatAdministrators())


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
    # Photos posted in a chat whose photo index is on (docs/index.md): after the handler above.
    application.add_handler(
        MessageHandler(filters.PHOTO | filters.Document.IMAGE, index_photos.on_photo_posted),
        group=index_photos.INDEX_HANDLER_GROUP,
    )
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
        token = settings.require_token()
    except ValidationError as err:
        raise SystemExit(f"rapbot telegram: {describe_errors(err)}") from None
    except ValueError as err:
        raise SystemExit(f"rapbot telegram: {err}") from None
    if client is None:
        try:
            client = open_client()  # loads the pipeline, unless the bot sends work to Celery workers
        except StartupError as err:
            raise SystemExit(f"rapbot telegram: {err}") from None
    client = observe_frontend(client)  # JSON logs, /metrics and /healthz when configured; metered client
    application = build_application(settings, client)
    opened = client

    async def close_client(_: Application) -> None:  # type: ignore[type-arg]
        await opened.close()

    application.post_shutdown = close_client
    ptb_log = logging.getLogger("telegram.ext")
    if not any(isinstance(f, _StartupFailureFilter) for f in ptb_log.filters):
        ptb_log.addFilter(_StartupFailureFilter())
    # PTB runs on the current event loop and closes it when it stops: a second run in the same
    # process (embedding, tests) needs a fresh one.
    asyncio.set_event_loop(asyncio.new_event_loop())
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
    except TelegramError as err:
        # Only at start-up: once running, PTB's polling loop retries network errors by itself.
        raise SystemExit(f"rapbot telegram: {describe_start_error(err, settings, token)}") from None


def server_address(url: str) -> str:
    """The Bot API server's address for a message: scheme, host and port, never user:password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}" if parts.scheme else url.removesuffix("/bot")


def describe_start_error(err: TelegramError, settings: TelegramSettings, token: str) -> str:
    """Whether the Bot API server answered (and what), or could not be reached: one line, no token."""
    where = server_address(settings.base_url)
    answer = " ".join(err.message.replace(token, REDACTED).split())
    status = next((f"{label}: " for kind, label in _ANSWERS if isinstance(err, kind)), "")
    if isinstance(err, NetworkError) and not isinstance(err, BadRequest) and _transport_failure(err):
        return (
            f"cannot reach the Bot API server ({where}). "
            "Check the network, or RAPBOT_TELEGRAM_BASE_URL for a self-hosted server."
        )
    if isinstance(err, Conflict):
        hint = "Another copy of this bot is running with the same token (or a webhook is set): stop it first."
    elif isinstance(err, EndPointNotFound):
        hint = "Check RAPBOT_TELEGRAM_BASE_URL: it must end in /bot and point at a Bot API server."
    else:
        hint = "Check RAPBOT_TELEGRAM_BASE_URL and the bot's settings with @BotFather."
    return f"the Bot API server ({where}) refused to start the bot: it answered {status}{answer!r}. {hint}"


# PTB keeps the server's description but not the HTTP status: its error classes say which it was.
_ANSWERS: tuple[tuple[type[TelegramError], str], ...] = (
    (BadRequest, "400 Bad Request"),
    (Forbidden, "403 Forbidden"),
    (EndPointNotFound, "404 Not Found"),
    (Conflict, "409 Conflict"),
)


class _StartupFailureFilter(logging.Filter):
    """PTB logs a failed start-up (its bootstrap) with a traceback before raising the error, which
    run() reports in one line: leave that record out. Errors once the bot runs are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and "Bootstrap" in record.getMessage())


def _transport_failure(err: NetworkError) -> bool:
    """A NetworkError without an HTTP answer: the connection failed or timed out (PTB raises
    NetworkError too for some HTTP answers, e.g. 502 or 500, with the server's description)."""
    cause = err.__cause__
    return isinstance(err, TimedOut) or (cause is not None and type(cause).__module__.startswith(("httpx", "httpcore")))
