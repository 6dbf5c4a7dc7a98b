"""Settings of the Discord frontend (env prefix `RAPBOT_DISCORD_`, `.env` supported)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DiscordSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPBOT_DISCORD_", env_file=".env", extra="ignore")

    # SecretStr: the token never shows in a repr, a log line or an error message.
    token: SecretStr | None = Field(default=None, description="Bot token from the Developer Portal.")
    dev_guild_id: int | None = Field(
        default=None, description="Sync commands to this one guild (instant) instead of globally (up to an hour)."
    )
    moderator_role: str | None = Field(
        default=None, description="Members with a role of this name moderate a guild's memory, besides Manage Server."
    )
    user_requests_per_minute: int = Field(default=10, ge=1, description="Requests one user may make per minute.")
    guild_requests_per_minute: int = Field(default=60, ge=1, description="Requests one guild may make per minute.")
    max_attachment_bytes: int = Field(default=8 * 1024 * 1024, ge=1, description="Largest image accepted, in bytes.")
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="Largest file the bot uploads (Discord's limit for the server)."
    )
    sync_commands: bool = Field(default=True, description="Sync the slash commands with Discord on start.")
    photo_index: bool = Field(
        default=False,
        description="Ask for the Message Content intent, so photos posted without mentioning the bot can be indexed "
        "in servers whose /index is on (enable the intent in the Developer Portal too; docs/index.md).",
    )
