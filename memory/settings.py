"""Settings of the memory store (env prefix RAPBOT_)."""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("rapbot"))


class MemorySettings(BaseSettings):
    """Where the memory lives and how much one chat may keep."""

    model_config = SettingsConfigDict(env_prefix="RAPBOT_", env_file=".env", extra="ignore")

    # Unset: an embedded PostgreSQL 16 + pgvector under data_dir/pg, started on demand.
    database_url: str | None = None
    data_dir: Path = Field(default_factory=_default_data_dir)
    max_concepts_per_scope: int = Field(default=1000, ge=1)
    max_views_per_concept: int = Field(default=10, ge=1)
    max_image_bytes: int = Field(default=2_000_000, ge=1)
    max_description_chars: int = Field(default=2000, ge=0)
    default_similarity_threshold: float = Field(default=0.75, ge=-1.0, le=1.0)  # cosine
    # Postgres session limits (memory/database.py): no statement runs longer, no lock is waited for
    # longer, a transaction left idle (its process stopped) is ended and its locks freed after this.
    statement_timeout_s: float = Field(default=30.0, gt=0)
    lock_timeout_s: float = Field(default=10.0, gt=0)
    idle_in_transaction_timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Each searching process keeps the views of the memories it searched in RAM, up to this many MB
    # (memory/search_cache.py): a search then costs one small query (is my copy current?) instead of
    # a scan of the memory's rows in Postgres. 0: every search scans Postgres.
    search_cache_mb: float = Field(default=256.0, ge=0.0)
