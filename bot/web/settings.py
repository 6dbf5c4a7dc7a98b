"""Settings of the web gallery, read from `RAPBOT_WEB_*` (or `.env`). The Telegram bot token comes
from RAPBOT_TELEGRAM_TOKEN (bot/telegram_bot/settings.py): Mini App and Login Widget data are signed
with it."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_CHARS = 32


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPBOT_WEB_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Where users reach the gallery: links, the Mini App URL and OAuth redirects are built on it.
    # Telegram opens Mini Apps only over https. Unset: http://HOST:PORT.
    public_url: str = ""
    # Signs the session cookie (at least 32 characters, e.g. `openssl rand -hex 32`). Required.
    session_secret: SecretStr | None = None
    session_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    # "none" is needed only where Telegram embeds the Mini App in an iframe of another site
    # (Telegram Web); it requires https. Phone and desktop apps open it top-level: "lax" works.
    cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    # Telegram sign-in data (Mini App initData, Login Widget) older than this is refused (auth_date).
    auth_max_age_s: int = Field(default=3600, ge=1)
    # How long a user's group memberships (asked of Telegram or Discord at sign-in) are trusted.
    membership_ttl_s: float = Field(default=300.0, ge=0)
    # The bot's @username without the @, for the Telegram Login Widget on /login.
    telegram_bot_username: str | None = None
    # Discord OAuth2 (the application's OAuth2 page); unset: no Discord sign-in.
    discord_client_id: str | None = None
    discord_client_secret: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_authorize_url: str = "https://discord.com/oauth2/authorize"
    # Uploads larger than this are refused before their body is read (Content-Length) or as it
    # streams; only signed-in users may send one. Other bodies (forms) are kept to max_form_bytes.
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_form_bytes: int = Field(default=64 * 1024, ge=1024)
    # A request body that sends nothing for this long is answered 408 (slow-body clients).
    body_read_timeout_s: float = Field(default=30.0, gt=0)
    thumbnail_px: int = Field(default=320, ge=32, le=2048)
    thumbnail_cache_items: int = Field(default=512, ge=0)
    page_size: int = Field(default=24, ge=1, le=100)

    @field_validator("public_url", "discord_api_base", "discord_authorize_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().rstrip("/")
        if not value and info.field_name == "public_url":
            return value  # unset: filled in from host and port
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http:// or https:// URL")
        try:
            urlsplit(value).port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise ValueError("has a malformed port: it must be a number from 1 to 65535") from None
        return value

    _public_url_set: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _default_public_url(self) -> WebSettings:
        self._public_url_set = bool(self.public_url)
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        return self

    @property
    def announced_url(self) -> str | None:
        """The URL the chat bots link to in /gallery: only one the operator set (RAPBOT_WEB_PUBLIC_URL);
        the local default means nothing on a phone."""
        return self.public_url if self._public_url_set else None

    def require_secret(self) -> str:
        secret = self.session_secret.get_secret_value() if self.session_secret else ""
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(
                f"RAPBOT_WEB_SESSION_SECRET must be set to at least {MIN_SECRET_CHARS} random characters "
                "(e.g. the output of `openssl rand -hex 32`): it signs the session cookie."
            )
        return secret

    @property
    def discord_enabled(self) -> bool:
        return bool(self.discord_client_id and self.discord_client_secret)

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")
