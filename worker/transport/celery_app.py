"""The Celery app: JSON only, late acknowledgement (a task whose worker dies is redelivered), one
task at a time per worker process, time limits below the broker's visibility timeout.

Replies do not use Celery's result backend: the task pushes its reply onto a Redis list named after
the request id and the client waits on it with BLPOP (one cheap round trip, safe with many
concurrent async callers, and a redelivered task can answer a client that is still waiting)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from worker.settings import WorkerSettings

PIPELINE_TASK = "rapbot.pipeline"
STORE_TASK = "rapbot.store"
log = logging.getLogger(__name__)


def _survive_restore_after_connection_loss() -> None:
    """Keep a worker serving through a Redis restart with tasks in flight (kombu 5.7). When the
    broker connection is lost, Celery closes the channel; the channel then tries to put its
    unacknowledged messages back in the queue, and later each task that finishes tries to
    acknowledge its message, both through a connection the channel no longer has: kombu raises
    AttributeError ('NoneType' object has no attribute 'hostname' / 'client') instead of a
    connection error, and the worker stops for good. Here both give up quietly instead: the
    messages stay in Redis's unacked set (a persistent Redis keeps them), a worker restores them
    after the visibility timeout, and a redelivered request answers from its done mark, never runs
    twice (tests/worker/test_faults_defaults.py restarts Redis under a worker with tasks in flight)."""

    qos = kombu_redis.QoS
    if getattr(qos, "_rapbot_tolerant", False):
        return
    restore_unacked, ack = qos.restore_unacked, qos.ack

    def lost(self: Any) -> bool:
        transport = getattr(self.channel, "connection", None)
        return transport is None or getattr(transport, "client", None) is None

    def tolerant_restore_unacked(self: Any, client: Any = None) -> Any:
        try:
            return restore_unacked(self, client)
        except AttributeError:
            if not lost(self):
                raise  # not the lost-connection case: a real bug, let it show
            log.warning("broker connection lost with tasks in flight: they come back after the visibility timeout")
            self._delivered.clear()
            return None

    def tolerant_ack(self: Any, delivery_tag: Any) -> None:
        try:
            ack(self, delivery_tag)
        except AttributeError:
            if not lost(self):
                raise
            virtual.QoS.ack(self, delivery_tag)  # forget it here; Redis redelivers it later (done mark)

    qos.restore_unacked = tolerant_restore_unacked  # type: ignore[method-assign]
    qos.ack = tolerant_ack  # type: ignore[method-assign]
    qos._rapbot_tolerant = True  # type: ignore[attr-defined]


_survive_restore_after_connection_loss()


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
            "unacked_restore_interval": settings.restore_interval_s,
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        task_routes={
            PIPELINE_TASK: {"queue": settings.pipeline_queue},
            STORE_TASK: {"queue": settings.store_queue},
        },
        task_default_queue=settings.pipeline_queue,
        worker_hijack_root_logger=False,
        # No remote control (`celery inspect`, broadcast commands): rapbot uses none, and its fanout
        # subscription is one more Redis connection per worker whose blocking read could keep a
        # stopping worker from exiting (two workers in one process shared it and hung, 1 run in 4).
        worker_enable_remote_control=False,
        worker_send_task_events=False,
    )
    return app
