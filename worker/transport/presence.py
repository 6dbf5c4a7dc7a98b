"""Which queues have a live worker: every worker process writes a heartbeat per queue it serves
(a Redis sorted set scored by time), so a client can say within seconds that nobody is there to
answer, instead of waiting out its whole timeout."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from celery import bootsteps
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PRESENCE_PREFIX = "rapbot:workers:"
BEAT_S = 2.0  # a worker beats this often...
STALE_S = 8.0  # ...and counts as gone when it has not for this long (a killed worker: within seconds)


def presence_key(queue: str) -> str:
    return PRESENCE_PREFIX + queue


def start_heartbeat(redis_url: str, queues: list[str]) -> threading.Event:
    """Beat for `queues` from a daemon thread until the returned event is set (then say goodbye)."""
    member = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    stop = threading.Event()

    def beat() -> None:
        redis = Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
        while not stop.is_set():
            now = time.time()
            try:
                with redis.pipeline() as pipe:
                    for queue in queues:
                        pipe.zadd(presence_key(queue), {member: now})
                        pipe.zremrangebyscore(presence_key(queue), 0, now - 10 * STALE_S)
                    pipe.execute()
            except RedisError as error:  # Redis restarting: beat again next time
                log.warning("heartbeat not written: %s", type(error).__name__)
            stop.wait(BEAT_S)
        try:
            with redis.pipeline() as pipe:
                for queue in queues:
                    pipe.zrem(presence_key(queue), member)
                pipe.execute()
        except RedisError:
            pass
        redis.close()

    threading.Thread(target=beat, name="rapbot-heartbeat", daemon=True).start()
    return stop


class Heartbeat(bootsteps.StartStopStep):
    """A consumer bootstep (Celery's own extension point, so every worker has it, test workers
    included): beat for the queues this worker consumes while it consumes them."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop: threading.Event | None = None

    def start(self, parent: Any) -> None:
        queues = [queue.name for queue in parent.task_consumer.queues]
        self._stop = start_heartbeat(str(parent.app.conf.broker_url), queues)

    def stop(self, parent: Any) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    shutdown = stop
