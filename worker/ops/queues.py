"""Queue depth and dead letters as metrics: kombu keeps a queue as Redis lists named after it;
`watch_queues(redis, queues)` reads them (and the dead letters) at each scrape."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.ops.metrics import REGISTRY
from worker.transport.wire import DEAD_LETTERS_KEY

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

KOMBU_PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport: queue, queue\x06\x163, \x06\x166, \x06\x169
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps one queue in (one per priority step; 0 is the queue's name)."""
    return [queue if step == 0 else f"{queue}{KOMBU_PRIORITY_SEP}{step}" for step in KOMBU_PRIORITY_STEPS]


class QueueCollector(Collector):
    """rapbot_queue_depth{queue} and rapbot_dead_letters, read from Redis when scraped. When Redis
    does not answer they are left out of that scrape (/healthz says why)."""

    def __init__(
        self,
        redis: Redis,
        queues: Sequence[str],
        dead_letters_key: str,
        count_dead_letters: Callable[[], int] | None = None,
    ) -> None:
        self.redis = redis
        self.queues = list(dict.fromkeys(queues))
        self.dead_letters_key = dead_letters_key
        self.count_dead_letters = count_dead_letters  # given: dead letters are counted there (Postgres)

    def describe(self) -> Iterable[Any]:
        return [
            GaugeMetricFamily("rapbot_queue_depth", _QUEUE_HELP, labels=["queue"]),
            GaugeMetricFamily("rapbot_dead_letters", _DEAD_HELP),
        ]

    def collect(self) -> Iterable[Any]:
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    for key in queue_keys(queue):
                        pipe.llen(key)
                pipe.llen(self.dead_letters_key)
                lengths = [int(n) for n in pipe.execute()]
        except Exception as exc:  # never the URL: the type names the failure
            log.debug("queue depth not read: %s", type(exc).__name__)
            return []
        depth = GaugeMetricFamily("rapbot_queue_depth", _QUEUE_HELP, labels=["queue"])
        steps = len(KOMBU_PRIORITY_STEPS)
        for index, queue in enumerate(self.queues):
            depth.add_metric([queue], sum(lengths[index * steps : (index + 1) * steps]))
        dead_count = lengths[-1]
        if self.count_dead_letters is not None:
            try:
                dead_count = self.count_dead_letters()
            except Exception as exc:
                log.debug("dead letters not counted: %s", type(exc).__name__)
                return [depth]
        dead = GaugeMetricFamily("rapbot_dead_letters", _DEAD_HELP, value=dead_count)
        return [depth, dead]


_QUEUE_HELP = "Requests waiting in a Celery queue (the Redis lists of the pipeline and store queues)."
_DEAD_HELP = "Requests set aside as dead letters (`rapbot deadletters list`)."
_queue_collector: QueueCollector | None = None
_queue_lock = threading.Lock()


def watch_queues(
    redis: Redis | None,
    queues: Sequence[str] = (),
    dead_letters_key: str | None = None,
    count_dead_letters: Callable[[], int] | None = None,
) -> None:
    """Report these queues' depth and the dead letters on every scrape (counted by
    `count_dead_letters` when given: the worker's store); None stops."""
    global _queue_collector
    if dead_letters_key is None:
        dead_letters_key = DEAD_LETTERS_KEY
    with _queue_lock:
        if _queue_collector is not None:
            REGISTRY.unregister(_queue_collector)
            _queue_collector = None
        if redis is not None:
            _queue_collector = QueueCollector(redis, queues, dead_letters_key, count_dead_letters)
            REGISTRY.register(_queue_collector)
