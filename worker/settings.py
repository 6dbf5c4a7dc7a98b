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
    # The time limits, ONE derivation (derive_limits below; docs/worker.md, "Timeouts that
    # compose"): each request's deadline in the worker (soft limit); Celery's hard limit (prefork)
    # 10 s later; the Redis visibility timeout (a request whose worker was lost is handed to another
    # worker after this long) 10 s after that; and the client timeout long enough for every
    # redelivery up to the dead letter. 0 = derived; a value set by hand is checked at start-up.
    task_soft_time_limit_s: int = Field(default=60, ge=1)
    task_time_limit_s: int = Field(default=0, ge=0)
    visibility_timeout_s: int = Field(default=0, ge=0)
    # How long a client waits for a reply. A request still queued when its client gives up is
    # dropped, never run later (Celery's `expires`); one that is running stops at its deadline.
    client_timeout_s: float = Field(default=0.0, ge=0)
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
    # The address that port listens on: this machine only, unless set (compose: 0.0.0.0, so that
    # Prometheus in another container can scrape it).
    metrics_host: str = "127.0.0.1"
    # One JSON object per log line (for a log shipper) instead of `time level logger: message`.
    log_json: bool = False

    @model_validator(mode="after")
    def _derive_and_check_limits(self) -> WorkerSettings:
        derive_limits(self)
        return self

    @property
    def restore_interval_s(self) -> int:
        """How often a worker looks for the unacknowledged requests of dead workers (kombu's
        `unacked_restore_interval`): a lost request comes back within visibility + this."""
        return restore_interval(self.visibility_timeout_s)


LIMIT_STEP_S = 10  # soft limit -> hard limit -> visibility timeout, each this much later
DEAD_LETTER_SLACK_S = 45  # derived client timeout: room after the last redelivery (a worker's restart)
MIN_DEAD_LETTER_SLACK_S = 15  # ... and the least a hand-set client timeout must leave


def restore_interval(visibility_timeout_s: int) -> int:
    return max(1, min(5, visibility_timeout_s // 10))


def dead_letter_at_s(settings: WorkerSettings) -> float:
    """The latest a request that stops its worker every time is dead-lettered, from when it was
    sent: each of its `max_deliveries` runs is followed by a visibility timeout (plus one restore
    scan) before the next delivery, and the delivery after the last one writes the dead letter."""
    return settings.max_deliveries * (settings.visibility_timeout_s + settings.restore_interval_s)


def derive_limits(settings: WorkerSettings) -> None:
    """Fill the limits left at 0 from the soft limit, then check that they compose: a slow request
    is never run twice in parallel (soft < hard < visibility), and a poison request reaches the
    dead letters, and its user the dead-letter reply, before the client gives up (client >=
    max_deliveries x (visibility + restore scan) + slack). RAPBOT_IMAGE_TTL_S and
    RAPBOT_RESULT_EXPIRES_S (an hour) should outlive the client timeout too (bench/soak.py shortens them)."""
    if not settings.task_time_limit_s:
        settings.task_time_limit_s = settings.task_soft_time_limit_s + LIMIT_STEP_S
    if not settings.visibility_timeout_s:
        settings.visibility_timeout_s = settings.task_time_limit_s + LIMIT_STEP_S
    if not settings.client_timeout_s:
        settings.client_timeout_s = float(dead_letter_at_s(settings) + DEAD_LETTER_SLACK_S)
    if not settings.task_soft_time_limit_s < settings.task_time_limit_s < settings.visibility_timeout_s:
        raise ValueError(
            "need RAPBOT_TASK_SOFT_TIME_LIMIT_S < RAPBOT_TASK_TIME_LIMIT_S < RAPBOT_VISIBILITY_TIMEOUT_S "
            f"(now {settings.task_soft_time_limit_s} / {settings.task_time_limit_s} / {settings.visibility_timeout_s})"
        )
    if settings.visibility_timeout_s < 5:
        raise ValueError("need RAPBOT_VISIBILITY_TIMEOUT_S >= 5")
    least = dead_letter_at_s(settings) + MIN_DEAD_LETTER_SLACK_S
    if settings.client_timeout_s < least:
        # Otherwise a request that stops its worker each time would never reach the dead letters
        # while its user waits, and a lost worker's request could come back after they were told.
        raise ValueError(
            f"need RAPBOT_CLIENT_TIMEOUT_S >= RAPBOT_MAX_DELIVERIES x (RAPBOT_VISIBILITY_TIMEOUT_S + "
            f"{settings.restore_interval_s}) + {MIN_DEAD_LETTER_SLACK_S} = {least} s "
            f"(now {settings.client_timeout_s:g}); leave it unset to derive it"
        )
