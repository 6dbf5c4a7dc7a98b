"""Prometheus metrics of every long-running process (`rapbot worker`, `rapbot telegram`, `rapbot
discord`), on prometheus-client, all on `REGISTRY` (not prometheus_client's global one):

- `observe_request(kind, outcome, seconds, timing)`: one finished request: counted by kind and
  outcome ("ok" or the error code), its end-to-end and per-stage latencies, and one log line.
- `observe_batch(network, size)`: one batched forward pass; `watch_engine(...)` feeds it from a
  serving engine's own batch counts at each scrape, so the engine needs no hook.

The rest of operations sits beside it: worker.ops.queues (queue depth, dead letters), worker.ops.health
(health checks), worker.ops.http (the /metrics and /healthz server), worker.ops.metered (a frontend's
metered client) and worker.ops.logs (JSON logs). With Celery's prefork pool the requests run in child
processes whose metrics this server does not see: use the threads pool (the default of `rapbot
worker`) when you scrape a worker."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from worker.client import OPERATIONS
from worker.domain.timing import RequestTiming

if TYPE_CHECKING:
    from model.engine import ServingEngine

log = logging.getLogger(__name__)
request_log = logging.getLogger("rapbot.requests")

T = TypeVar("T")

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
with contextlib.suppress(ValueError):  # the GC collector is a singleton on the global registry
    REGISTRY.register(GC_COLLECTOR)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
PIPELINE_STAGES = ("detect", "embed", "search", "generate")  # worker.domain.timing's stages (and "text", ...)

REQUESTS = Counter(
    "rapbot_requests",
    "Finished requests by kind (service method) and outcome (ok, or the error code).",
    ["method", "outcome"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "rapbot_request_duration_seconds",
    "End-to-end time of a request in this process (worker: the task; bot: the call to the worker).",
    ["method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "rapbot_stage_duration_seconds",
    "Time of one pipeline stage of a request (detect, embed, search, generate; worker.domain.timing).",
    ["method", "stage"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
GENERATED_TOKENS = Counter(
    "rapbot_generated_tokens", "Tokens generated for answers and captions.", ["method"], registry=REGISTRY
)
BATCH_SIZE = Histogram(
    "rapbot_batch_size",
    "Requests per batched forward pass of the serving engine, by network (generate, detect, embed).",
    ["network"],
    buckets=BATCH_BUCKETS,
    registry=REGISTRY,
)
MODEL_LOAD_SECONDS = Gauge(
    "rapbot_model_load_seconds",
    "How long loading the networks took in this process (network: encoder, detector, generator or all).",
    ["network"],
    registry=REGISTRY,
)

_KNOWN_METHODS = frozenset(OPERATIONS)
LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _method_label(kind: str) -> str:
    return kind if kind in _KNOWN_METHODS else "unknown"  # a label never grows with bad input


def _outcome_label(outcome: str) -> str:
    return outcome if LABEL.match(outcome) else "other"


# ---- requests ---------------------------------------------------------------------------------


def observe_request(
    kind: str,
    outcome: str,
    seconds: float,
    timing: RequestTiming | None = None,
    *,
    request_id: str | None = None,
) -> None:
    """Record one finished request and log one line for it (logger `rapbot.requests`): its id,
    kind, outcome and timings. Never its text, photo or user."""
    method, result = _method_label(kind), _outcome_label(outcome)
    REQUESTS.labels(method, result).inc()
    REQUEST_SECONDS.labels(method).observe(max(seconds, 0.0))
    stages: dict[str, float] = {}
    if timing is not None:
        for stage, spent in timing.stages.items():
            if LABEL.match(stage):
                STAGE_SECONDS.labels(method, stage).observe(max(spent, 0.0))
                stages[stage] = round(spent, 4)
        if timing.generated_tokens:
            GENERATED_TOKENS.labels(method).inc(timing.generated_tokens)
    fields: dict[str, Any] = {
        "request_id": request_id or "-",
        "kind": method,
        "outcome": result,
        "seconds": round(seconds, 4),
        "stages": stages,
    }
    if timing is not None and timing.generate_batch:
        fields["generate_batch"] = timing.generate_batch
        fields["generated_tokens"] = timing.generated_tokens
    stage_text = " ".join(f"{name}={spent:.3f}s" for name, spent in stages.items())
    request_log.info(
        "request %s %s %s %.3fs%s",
        fields["request_id"],
        method,
        result,
        seconds,
        f" {stage_text}" if stage_text else "",
        extra={"rapbot": fields},
    )


# ---- batches and model load -------------------------------------------------------------------


def observe_batch(network: str, size: int, count: int = 1) -> None:
    """Record `count` batched forward passes of `size` requests on `network`."""
    if size <= 0 or count <= 0:
        return
    child = BATCH_SIZE.labels(network if LABEL.match(network) else "other")
    for _ in range(count):
        child.observe(size)


def observe_model_load(seconds: float, network: str = "all") -> None:
    MODEL_LOAD_SECONDS.labels(network if LABEL.match(network) else "other").set(seconds)


@contextlib.contextmanager
def timed_model_load(network: str = "all") -> Iterator[None]:
    """`with timed_model_load(): engine.warm_up()` records how long loading took (when it worked)."""
    start = time.perf_counter()
    yield
    observe_model_load(time.perf_counter() - start, network)


class _EngineWatch:
    """Turns a serving engine's cumulative batch counts (BatcherStats.sizes) into observe_batch
    calls, once per new batch, at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._provider: Callable[[], ServingEngine | None] | None = None
        self._seen: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], int]] = weakref.WeakKeyDictionary()

    def watch(self, provider: Callable[[], ServingEngine | None] | None) -> None:
        with self._lock:
            self._provider = provider

    def sync(self) -> None:
        with self._lock:
            if self._provider is None:
                return
            try:
                engine = self._provider()
            except Exception:
                return  # not open (yet): nothing to count
            if engine is not None:
                self._sync_engine(engine)

    def _sync_engine(self, engine: Any) -> None:
        seen = self._seen.setdefault(engine, {})
        for network in ("generate", "detect", "embed"):
            part = getattr(engine, {"generate": "generator", "detect": "detector", "embed": "encoder"}[network], None)
            stats = getattr(getattr(part, "batcher", None), "stats", None)
            sizes = dict(getattr(stats, "sizes", None) or {})  # a copy: the serving thread adds to it
            for size, count in sizes.items():
                new = int(count) - seen.get((network, size), 0)
                if new > 0:
                    observe_batch(network, int(size), new)
                    seen[(network, size)] = int(count)


_engine_watch = _EngineWatch()


def watch_engine(engine: ServingEngine | Callable[[], ServingEngine | None] | None) -> None:
    """Count the batches of this engine (or of the one a provider returns, when it exists) at each
    scrape of /metrics. None stops."""
    _engine_watch.watch(as_provider(engine))


def sync_engine() -> None:
    """Bring rapbot_batch_size up to date now (the server does it before each scrape)."""
    _engine_watch.sync()


def as_provider(value: T | Callable[[], T | None] | None) -> Callable[[], T | None] | None:
    """A value, or a function that returns it when asked (so a part opened later is seen)."""
    if value is None:
        return None
    if callable(value):
        return value
    return lambda: value
