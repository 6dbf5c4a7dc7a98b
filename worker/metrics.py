"""Metrics, health and request logs of every long-running process (`rapbot worker`, `rapbot
telegram`, `rapbot discord`), on prometheus-client.

- `start_metrics_server(port, health)`: one port (RAPBOT_METRICS_PORT) serves `/metrics`
  (Prometheus text format, prometheus_client's own WSGI app) and `/healthz` (200 "ok", or 503 with
  one line per failing part: "redis: unreachable (ConnectionError)"; never a URL, password or token).
- `observe_request(kind, outcome, seconds, timing)`: one finished request: counted by kind and
  outcome ("ok" or the error code), its end-to-end and per-stage latencies, and one log line.
- `observe_batch(network, size)`: one batched forward pass; `watch_engine(...)` feeds it from a
  serving engine's own batch counts at each scrape, so the engine needs no hook.
- `watch_queues(redis, queues)`: queue depth (kombu keeps a queue as a Redis list named after it)
  and the dead letters, read from Redis at each scrape.
- `health_checks(redis=..., store=..., engine=...)`: the `health` callable for the server.
- `configure_logging(json_logs)` / `JsonFormatter`: one JSON object per log line (RAPBOT_LOG_JSON=1).

Everything lives on `REGISTRY`, not on prometheus_client's global one. With Celery's prefork pool
the requests run in child processes whose metrics this server does not see: use the threads pool
(the default of `rapbot worker`) when you scrape a worker."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from worker.dispatch import RESULT_TYPES, DispatchingClient
from worker.timing import RequestTiming, track_request

if TYPE_CHECKING:
    from redis import Redis

    from memory.store import MemoryStore
    from model.engine import ServingEngine
    from worker.settings import WorkerSettings

log = logging.getLogger(__name__)
request_log = logging.getLogger("rapbot.requests")

T = TypeVar("T")
Health = Callable[[], dict[str, str | None]]  # part -> None when fine, else why not (no secrets)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
with contextlib.suppress(ValueError):  # the GC collector is a singleton on the global registry
    REGISTRY.register(GC_COLLECTOR)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
PIPELINE_STAGES = ("detect", "embed", "search", "generate")  # worker.timing's stages (and "text", ...)

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
    "Time of one pipeline stage of a request (detect, embed, search, generate; worker.timing).",
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

_KNOWN_METHODS = frozenset(RESULT_TYPES)
_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _method_label(kind: str) -> str:
    return kind if kind in _KNOWN_METHODS else "unknown"  # a label never grows with bad input


def _outcome_label(outcome: str) -> str:
    return outcome if _LABEL.match(outcome) else "other"


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
            if _LABEL.match(stage):
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


def outcome_of(envelope: str | bytes) -> str:
    """A reply envelope's outcome (worker.wire): "ok", or its error code."""
    try:
        data = json.loads(envelope)
    except ValueError:
        return "other"
    if data.get("ok"):
        return "ok"
    return str(data.get("code") or "other")


def timing_of(envelope: str | bytes) -> RequestTiming | None:
    """The timing an ok envelope carries (errors carry none)."""
    try:
        data = json.loads(envelope)
    except ValueError:
        return None
    return RequestTiming.from_json(data) if data.get("ok") else None


class MeteredClient(DispatchingClient):
    """A frontend's client that records every call (kind, outcome, end-to-end time and the worker's
    stage timings) before passing its result or error on. Wraps a LocalClient or a CeleryClient:
    `client = MeteredClient(open_client())`; any other attribute is the wrapped client's."""

    def __init__(self, inner: DispatchingClient) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        from worker.errors import RapError

        start = time.perf_counter()
        outcome = "ok"
        timing: RequestTiming | None = None
        try:
            call_timed = getattr(self.inner, "call_timed", None)
            if callable(call_timed):  # the Celery client: the worker's own stage timings come back
                result, timing = await call_timed(method, **kwargs)
                return result
            # In-process: the stages run in a thread that inherits this context (asyncio.to_thread).
            with track_request() as timing:
                return await self.inner._call(method, **kwargs)
        except RapError as err:
            outcome = err.code
            raise
        except BaseException:
            outcome = "internal"
            raise
        finally:
            elapsed = time.perf_counter() - start
            observe_request(method, outcome, elapsed, timing, request_id=kwargs.get("request_id"))

    async def close(self) -> None:
        await self.inner.close()


# ---- batches and model load -------------------------------------------------------------------


def observe_batch(network: str, size: int, count: int = 1) -> None:
    """Record `count` batched forward passes of `size` requests on `network`."""
    if size <= 0 or count <= 0:
        return
    child = BATCH_SIZE.labels(network if _LABEL.match(network) else "other")
    for _ in range(count):
        child.observe(size)


def observe_model_load(seconds: float, network: str = "all") -> None:
    MODEL_LOAD_SECONDS.labels(network if _LABEL.match(network) else "other").set(seconds)


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
    _engine_watch.watch(_provider(engine))


def sync_engine() -> None:
    """Bring rapbot_batch_size up to date now (the server does it before each scrape)."""
    _engine_watch.sync()


# ---- queues and dead letters ------------------------------------------------------------------

KOMBU_PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport: queue, queue\x06\x163, \x06\x166, \x06\x169
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps one queue in (one per priority step; 0 is the queue's name)."""
    return [queue if step == 0 else f"{queue}{KOMBU_PRIORITY_SEP}{step}" for step in KOMBU_PRIORITY_STEPS]


class QueueCollector(Collector):
    """rapbot_queue_depth{queue} and rapbot_dead_letters, read from Redis when scraped. When Redis
    does not answer they are left out of that scrape (/healthz says why)."""

    def __init__(self, redis: Redis, queues: Sequence[str], dead_letters_key: str) -> None:
        self.redis = redis
        self.queues = list(dict.fromkeys(queues))
        self.dead_letters_key = dead_letters_key

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
        dead = GaugeMetricFamily("rapbot_dead_letters", _DEAD_HELP, value=lengths[-1])
        return [depth, dead]


_QUEUE_HELP = "Requests waiting in a Celery queue (the Redis lists of the pipeline and store queues)."
_DEAD_HELP = "Requests set aside as dead letters (`rapbot deadletters list`)."
_queue_collector: QueueCollector | None = None
_queue_lock = threading.Lock()


def watch_queues(redis: Redis | None, queues: Sequence[str] = (), dead_letters_key: str | None = None) -> None:
    """Report these queues' depth and the dead letters on every scrape; None stops."""
    global _queue_collector
    if dead_letters_key is None:
        from worker.wire import DEAD_LETTERS_KEY

        dead_letters_key = DEAD_LETTERS_KEY
    with _queue_lock:
        if _queue_collector is not None:
            REGISTRY.unregister(_queue_collector)
            _queue_collector = None
        if redis is not None:
            _queue_collector = QueueCollector(redis, queues, dead_letters_key)
            REGISTRY.register(_queue_collector)


def health_redis(url: str) -> Redis:
    """A Redis client for health checks and queue depth: short timeouts, so a scrape never hangs."""
    from redis import Redis

    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


# ---- health -----------------------------------------------------------------------------------

CHECK_TIMEOUT_S = 5.0
NETWORKS = ("encoder", "detector", "generator")


def _provider(value: T | Callable[[], T | None] | None) -> Callable[[], T | None] | None:
    if value is None:
        return None
    if callable(value):
        return value
    return lambda: value


def _why(exc: BaseException) -> str:
    """A failure in a few words: the error's type (and a RapError's code), never its message,
    which may quote a URL with its password."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}: {code}" if isinstance(code, str) and _LABEL.match(code) else type(exc).__name__


def check_redis(redis: Redis) -> str | None:
    try:
        redis.ping()
    except Exception as exc:
        return f"unreachable ({_why(exc)})"
    return None


def check_store(store: MemoryStore) -> str | None:
    from sqlalchemy import text

    try:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"unreachable ({_why(exc)})"
    return None


def check_networks(engine: ServingEngine | None) -> str | None:
    """Every network of the engine (its `raw` bundle) loaded."""
    if engine is None:
        return "not loaded"
    raw = getattr(engine, "raw", engine)
    missing = [name for name in NETWORKS if not network_loaded(getattr(raw, name, None))]
    return f"not loaded: {', '.join(missing)}" if missing else None


def network_loaded(network: Any) -> bool:
    """`is_loaded` of an InferenceModel; a LazyGenerator (model/profiles.py) not yet built is not
    loaded. Only properties of the class are read: a wrapper's __getattr__ could build or load the
    network, which a health check must never do. A network with neither counts as loaded."""
    if network is None:
        return False
    kind = type(network)
    if isinstance(getattr(kind, "is_built", None), property):
        return bool(network.is_built) and network_loaded(network.built)
    if isinstance(getattr(kind, "is_loaded", None), property):
        return bool(network.is_loaded)
    return True


def health_checks(
    *,
    redis: Redis | Callable[[], Redis | None] | None = None,
    store: MemoryStore | Callable[[], MemoryStore | None] | None = None,
    engine: ServingEngine | Callable[[], ServingEngine | None] | None = None,
) -> Health:
    """The `health` of `start_metrics_server`: parts "redis" (PING), "postgres" (SELECT 1 through
    the store's engine) and "networks" (every network of the serving engine loaded), each given as
    the object or a function that returns it (so a store opened later is checked when it exists).
    A part not given is not checked; a function that raises fails its part."""
    checks: dict[str, Callable[[], str | None]] = {}
    if (get_redis := _provider(redis)) is not None:
        checks["redis"] = _with(get_redis, check_redis, "not configured")
    if (get_store := _provider(store)) is not None:
        checks["postgres"] = _with(get_store, check_store, "not open")
    if (get_engine := _provider(engine)) is not None:
        checks["networks"] = _with(get_engine, check_networks, "not loaded")

    def health() -> dict[str, str | None]:
        return run_checks(checks)

    return health


def _with(get: Callable[[], T | None], check: Callable[[T], str | None], missing: str) -> Callable[[], str | None]:
    def run() -> str | None:
        try:
            value = get()
        except Exception as exc:
            return f"unavailable ({_why(exc)})"
        if value is None:
            return missing
        return check(value)

    return run


def run_checks(
    checks: dict[str, Callable[[], str | None]], timeout_s: float = CHECK_TIMEOUT_S
) -> dict[str, str | None]:
    """Run the checks side by side; one that takes longer than `timeout_s` fails as "timed out"."""
    results: dict[str, str | None] = {name: "timed out" for name in checks}

    def run(name: str, check: Callable[[], str | None]) -> None:
        try:
            results[name] = check()
        except Exception as exc:
            results[name] = f"failed ({_why(exc)})"

    threads = [
        threading.Thread(target=run, args=(name, check), name=f"rapbot-health-{name}", daemon=True)
        for name, check in checks.items()
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return dict(results)


def client_health(client: Any) -> Health:
    """Health of a frontend's process from its client: Redis for the Celery client; the store and
    the networks for the in-process client (a MeteredClient is looked through)."""
    client = getattr(client, "inner", client)
    runtime = getattr(client, "runtime", None)
    if runtime is not None:
        return health_checks(store=runtime.store, engine=runtime.engine if runtime.engine is not None else None)
    settings = getattr(client, "settings", None)
    url = getattr(settings, "redis_url", None)
    return health_checks(redis=health_redis(url)) if url else health_checks()


def metered(client: Any) -> Any:
    """`client` wrapped in a MeteredClient when it is a DispatchingClient (Local or Celery), else
    unchanged (a test's fake client)."""
    return MeteredClient(client) if isinstance(client, DispatchingClient) else client


def observe_frontend(client: Any, settings: WorkerSettings | None = None, *, configure_logs: bool = True) -> Any:
    """What a bot calls once its client is open: JSON logs when RAPBOT_LOG_JSON=1 (unless
    `configure_logs` is False: the caller sets its own formatter), /metrics and /healthz when
    RAPBOT_METRICS_PORT is set; returns the client to use from then on (metered)."""
    from worker.settings import WorkerSettings

    settings = settings or WorkerSettings()
    if configure_logs and settings.log_json:
        configure_logging(json_logs=True)
    client = metered(client)
    if settings.metrics_port:
        runtime = getattr(getattr(client, "inner", client), "runtime", None)
        watch_engine(getattr(runtime, "engine", None))  # in-process pipeline: its batches
        start_metrics_server(settings.metrics_port, client_health(client))
    return client


# ---- the server -------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: no access log
        pass


@dataclass
class MetricsServer:
    server: ThreadingWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_app(health: Health | None, registry: CollectorRegistry = REGISTRY) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: /metrics (prometheus_client's app), /healthz, and 404 for anything else."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            sync_engine()
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            status, body = health_response(health)
            start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


def health_response(health: Health | None) -> tuple[str, bytes]:
    """(HTTP status, body): "200 OK" and "ok", or "503 Service Unavailable" and one line per
    failing part, "<part>: <why>"."""
    try:
        parts = health() if health is not None else {}
    except Exception as exc:
        parts = {"health": f"failed ({_why(exc)})"}
    failing = {name: why for name, why in parts.items() if why is not None}
    if not failing:
        return "200 OK", b"ok\n"
    lines = "".join(f"{name}: {why}\n" for name, why in sorted(failing.items()))
    return "503 Service Unavailable", lines.encode()


def start_metrics_server(port: int, health: Health | None = None, addr: str = "0.0.0.0") -> MetricsServer | None:
    """Serve /metrics and /healthz on `port` (0: any free port; see `.port`) from a daemon thread.
    A port that cannot be bound is logged and the process goes on without metrics (None)."""
    try:
        server = make_server(addr, port, make_app(health), ThreadingWSGIServer, handler_class=_QuietHandler)
    except OSError as exc:
        log.error("metrics: cannot listen on port %d (%s); no /metrics or /healthz", port, type(exc).__name__)
        return None
    thread = threading.Thread(target=server.serve_forever, name="rapbot-metrics", daemon=True)
    thread.start()
    metrics_server = MetricsServer(server, thread)
    _servers.append(metrics_server)
    log.info("metrics on :%d/metrics, health on :%d/healthz", metrics_server.port, metrics_server.port)
    return metrics_server


_servers: list[MetricsServer] = []


def stop_metrics_servers() -> None:
    """Stop every server this process started (tests, embedding)."""
    while _servers:
        _servers.pop().close()


# ---- logs -------------------------------------------------------------------------------------

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request fields
    of observe_request (request_id, kind, outcome, seconds, stages) and any other `extra` that is
    a plain value (str, number, bool); structured extras such as Celery's `data` (a task's
    arguments, which hold a user's text) are left out, as in the text format."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RECORD_FIELDS or key.startswith("_"):
                continue
            if key == "rapbot" and isinstance(value, dict):
                line.update(value)
            elif value is None or isinstance(value, str | int | float | bool):
                line[key] = value
            # Anything else is left out: Celery's `data` holds a task's arguments (a user's text).
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # a redacting filter may already have cleaned it (bot/telegram_bot/redact.py)
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(json_logs: bool, level: int | str = logging.INFO) -> None:
    """Log lines to stderr: JSON objects (RAPBOT_LOG_JSON=1) or `time level logger: message`. Every
    handler the root logger already has gets the formatter; with none, one stderr handler is added."""
    formatter: logging.Formatter = JsonFormatter() if json_logs else logging.Formatter(TEXT_FORMAT)
    root = logging.getLogger()
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        level = level if isinstance(level, int) else logging.INFO
    root.setLevel(level)
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter)


def use_logging_in_celery(json_logs: bool) -> None:
    """Let configure_logging, not Celery, format a worker's logs (Celery's `setup_logging` signal:
    with a receiver connected, Celery leaves logging alone)."""
    from celery.signals import setup_logging

    def _setup(loglevel: int | str | None = None, **_: object) -> None:
        configure_logging(json_logs, loglevel or logging.INFO)

    setup_logging.connect(_setup, weak=False)
