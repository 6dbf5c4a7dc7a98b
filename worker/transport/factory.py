"""`get_client()`: what the frontends call to get a RapClient. With RAPBOT_REDIS_URL set, the
Celery client (the pipeline runs in `rapbot worker`); otherwise the in-process LocalClient on the
embedded defaults."""

from __future__ import annotations

from worker.client import RapClient
from worker.settings import WorkerSettings


def get_client(settings: WorkerSettings | None = None) -> RapClient:
    settings = settings or WorkerSettings()
    if settings.redis_url:
        from worker.transport.celery_client import CeleryClient  # Celery and kombu: only with Redis

        return CeleryClient(settings)
    from worker.transport.local import LocalClient  # the pipeline: only where it runs in-process

    return LocalClient.open(settings)
