"""Settings of the console frontend, read from `RAPBOT_CONSOLE_*` (or `.env`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# How long a console's gallery sign-in link is valid (bot/web/console_signin.py); here, below both
# the gallery and the replies that mention it, so neither imports the other.
CONSOLE_LINK_MAX_AGE_S = 600


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAPBOT_CONSOLE_", env_file=".env", extra="ignore")

    # Where annotated images, /show photos and /export zips are written; unset: a new temp dir per session.
    out_dir: Path | None = None
    # Interactive history (TTY only); unset: history lives only as long as the session.
    history_file: Path | None = None
    concepts_page_size: int = Field(default=10, ge=1, le=100)
    # Largest image file the console reads, in bytes (the worker applies its own limits too).
    max_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
