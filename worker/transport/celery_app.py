"""The Celery app: JSON only, late acknowledgement (a task whose worker dies is redelivered), one
task at a time per worker process, time limits below the broker's visibility timeout.

Replies do not use Celery's result backend: the task pushes its reply onto a Redis list named after
the request id and the client waits on it with BLPOP (one cheap round trip, safe with many
concurrent async callers, and a redelivered task can answer a client that is still waiting)."""

from __future__ import annotations

from celery import Celery

from worker.settings import WorkerSettings

PIPELINE_TASK = "rapbot.pipeline"
STORE_TASK = "rapbot.store"


def make_celery(settings: WorkerSettings) -> Celery:
    """The app clients send with; a worker's adds the tasks (worker.transport.tasks.worker_app)."""
    if not settings.redis_url:
        raise ValueError("RAPBOT_REDIS_URL is not set: the Celery path needs Redis")
    app = Celery("rapbot", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # replies travel on their own Redis list (see above)
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit_s,
        task_time_limit=settings.task_time_limit_s,
        result_expires=settings.result_expires_s,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            # Look for tasks of dead workers every few seconds, not every 100 s.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 5)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        task_routes={
            PIPELINE_TASK: {"queue": settings.pipeline_queue},
            STORE_TASK: {"queue": settings.store_queue},
        },
        task_default_queue=settings.pipeline_queue,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
