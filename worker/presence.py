"""Which queues have a live worker: every worker process writes a heartbeat per queue it serves
(a Redis sorted set scored by time), so a client can say within seconds that nobody is there to
answer, instead of waiting out its whole timeout."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PRESENCE_PREFIX = "rapbot:workers:"
BEAT_S = 5.0  # a worker beats this often...
STALE_S = 20.0  # ...and counts as gone when it has not for this long


def presence_key(queue: str) -> str:
    return PRESENCE_PREFIX + queue


def start_heartbeat(redis_url: str, queues: list[str]) -> threading.Thread:
    """Beat for `queues` from a daemon thread for the life of this process."""
    member = f"{socket.gethostname()}:{os.getpid()}"

    def beat() -> None:
        redis = Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
        while True:
            now = time.time()
            try:
                with redis.pipeline() as pipe:
                    for queue in queues:
                        pipe.zadd(presence_key(queue), {member: now})
                        pipe.zremrangebyscore(presence_key(queue), 0, now - 10 * STALE_S)
                    pipe.execute()
            except RedisError as error:  # Redis restarting: beat again next time
                log.warning("heartbeat not written: %s", type(error).__name__)
            time.sleep(BEAT_S)

    thread = threading.Thread(target=beat, name="rapbot-heartbeat", daemon=True)
    thread.start()
    return thread
