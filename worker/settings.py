"""Settings of worker/: which client the bots get, the Celery queues and limits, and image limits."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Every field is read from `RAPBOT_<FIELD>` (or `.env`)."""

    model_config = SettingsConfigDict(env_prefix="RAPBOT_", env_file=".env", extra="ignore")

    # When set, get_client() returns the Celery client and the pipeline runs in `rapbot worker`.
    redis_url: str | None = None
    # The whole pipeline (detect, embed, search, generate) runs on one queue: see docs/worker.md.
    pipeline_queue: str = "rapbot.gpu"
    # Store-only requests (list, show, forget, export...) never wait behind a generation.
    store_queue: str = "rapbot.store"
    # Redis visibility timeout: a request whose worker was lost (killed, machine gone) is handed to
    # another worker after this long. Above the longest task, well under the client timeout.
    visibility_timeout_s: int = Field(default=100, ge=5)
    # Task limits: each request's deadline inside the engine (soft), Celery's hard limit (prefork).
    task_soft_time_limit_s: int = Field(default=80, ge=1)
    task_time_limit_s: int = Field(default=90, ge=1)
    # How long a client waits for a reply. A request still queued when its client gives up is
    # dropped, never run later (Celery's `expires`); one that is running stops at its deadline.
    client_timeout_s: float = Field(default=200.0, gt=0)
    # A request delivered this many times without an answer (it stopped its worker each time) is
    # set aside as a dead letter (`rapbot deadletters list`) and its user told.
    max_deliveries: int = Field(default=3, ge=1)
    result_expires_s: int = Field(default=3600, ge=60)
    # Image bytes wait in Redis for the worker this long (they travel by key, not in the message).
    image_ttl_s: int = Field(default=3600, ge=60)
    max_photo_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_photo_pixels: int = Field(default=40_000_000, ge=64)
    # Thinner photos (long side : short side) are refused: a 40000x1 strip is cheap to decode but
    # every network's resize would blow it up (see docs/console.md, "Input limits").
    max_photo_aspect: float = Field(default=20.0, ge=1.0)
    # Longest side of the working copy every network, crop and annotated photo is made from.
    max_photo_side: int = Field(default=2048, ge=64, le=16384)
    # How long a remember with several candidates waits for the user's choice.
    pending_ttl_s: int = Field(default=900, ge=10)
    # How long a recognised crop waits for "yes, that's bo" / "no" after a photo answer (in Redis or
    # the bot's memory: one JPEG crop and its embedding per recognised concept).
    feedback_ttl_s: int = Field(default=3600, ge=10)
    # At most this many images in one album remember.
    max_album_images: int = Field(default=10, ge=1)
    # Answer length: None = the model's RAPBOT_MAX_NEW_TOKENS. The seed fixes sampling
    # so every frontend gets the same answer for the same inputs.
    reply_max_new_tokens: int | None = Field(default=None, ge=1)
    generation_seed: int = 0
    # A box is "dominant" when its score*area beats every other box's by this factor.
    dominance_ratio: float = Field(default=2.0, ge=1.0)
    max_candidates: int = Field(default=6, ge=2)
    # Set: this process serves /metrics (Prometheus) and /healthz on this port (docs/worker.md,
    # "Operating rapbot"); unset: neither.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # One JSON object per log line (for a log shipper) instead of `time level logger: message`.
    log_json: bool = False

    @model_validator(mode="after")
    def _limits_below_visibility(self) -> WorkerSettings:
        if not self.task_soft_time_limit_s < self.task_time_limit_s < self.visibility_timeout_s:
            raise ValueError(
                "need RAPBOT_TASK_SOFT_TIME_LIMIT_S < RAPBOT_TASK_TIME_LIMIT_S < RAPBOT_VISIBILITY_TIMEOUT_S"
            )
        if self.client_timeout_s <= self.visibility_timeout_s:
            # Otherwise a lost worker's request would come back after its user was told it failed.
            raise ValueError("need RAPBOT_VISIBILITY_TIMEOUT_S < RAPBOT_CLIENT_TIMEOUT_S")
        return self
