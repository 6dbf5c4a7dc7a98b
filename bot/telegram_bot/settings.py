"""Settings of the Telegram frontend, read from `RAPBOT_TELEGRAM_*` (or `.env`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

IdSet = Annotated[frozenset[int], NoDecode]


class TelegramSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPBOT_TELEGRAM_", env_file=".env", extra="ignore")

    # From @BotFather. A SecretStr so it never shows up in a repr, a log line or an error.
    token: SecretStr | None = None
    # A self-hosted Bot API server (https://github.com/tdlib/telegram-bot-api) instead of Telegram's.
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"

    # Polling by default; webhook mode when webhook_url is set (Telegram posts updates to it).
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_path: str = "telegram"
    # Telegram sends it in X-Telegram-Bot-Api-Secret-Token; requests without it are refused.
    webhook_secret: SecretStr | None = None

    # Comma-separated user ids; empty = everyone may use the bot.
    allowed_users: IdSet = frozenset()
    # Bot owners count as moderators in every group.
    owner_ids: IdSet = frozenset()

    # Requests to the pipeline per user and per group within rate_window_s.
    user_rate_limit: int = Field(default=20, ge=1)
    group_rate_limit: int = Field(default=60, ge=1)
    rate_window_s: float = Field(default=60.0, gt=0)
    # Outgoing calls hit by RetryAfter or a network error are retried this many times.
    max_retries: int = Field(default=5, ge=0)

    # Reply with the photo annotated with the recognised concepts' boxes.
    annotated_replies: bool = True
    # How long an admin check (getChatMember) is trusted before asking again.
    moderator_cache_ttl_s: float = Field(default=300.0, ge=0)
    # Photos of one album arrive as separate updates; wait this long for the rest.
    album_wait_s: float = Field(default=1.5, gt=0)
    # Bot API limit for downloads by bots (20 MB on api.telegram.org; a local server allows more).
    max_download_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    concepts_page_size: int = Field(default=10, ge=1, le=50)

    @field_validator("allowed_users", "owner_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return frozenset(int(part) for part in value.replace(";", ",").split(",") if part.strip())
            except ValueError:
                raise ValueError("must be a comma-separated list of numeric Telegram user ids") from None
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_needs_https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be an https:// URL (Telegram only posts to HTTPS)")
        if value is not None:
            _check_port(value)
        return value

    @field_validator("base_url", "base_file_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        _check_port(value)
        return value

    def require_token(self) -> str:
        if self.token is None or not self.token.get_secret_value().strip():
            raise ValueError(
                "RAPBOT_TELEGRAM_TOKEN is not set. Create a bot with @BotFather and put its token in "
                "RAPBOT_TELEGRAM_TOKEN (environment or .env)."
            )
        return self.token.get_secret_value().strip()


def _check_port(url: str) -> None:
    try:
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number 0-65535
    except ValueError:
        raise ValueError("has a malformed port: it must be a number from 1 to 65535") from None


def describe_errors(err: ValidationError) -> str:
    """One line per bad setting, naming its variable. Never pydantic's own text: it quotes the
    input values, and the input may hold the token."""
    lines = []
    for error in err.errors():
        field = "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"RAPBOT_TELEGRAM_{field}: {message}" if field else message)
    return "; ".join(lines)
