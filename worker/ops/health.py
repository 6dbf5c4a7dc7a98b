"""Health checks: `health_checks(redis=..., store=..., engine=...)` gives the `health` callable that
/healthz (worker.ops.http) answers from: one line per failing part, in words, never a URL, password
or token ("redis: unreachable (ConnectionError)")."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from worker.ops.metrics import LABEL, as_provider

if TYPE_CHECKING:
    from redis import Redis

    from memory.store import MemoryStore
    from model.engine import ServingEngine

T = TypeVar("T")
Health = Callable[[], dict[str, str | None]]  # part -> None when fine, else why not (no secrets)

CHECK_TIMEOUT_S = 5.0
NETWORKS = ("encoder", "detector", "generator")


def why(exc: BaseException) -> str:
    """A failure in a few words, then the error's type: "connection refused (ConnectionError)",
    "timed out (TimeoutError)", "the store refused (RapError: backend_down)". Never the error's
    message, which may quote a URL with its password, and never a driver's internal code (an
    SQLAlchemy error's `code` is a documentation link id such as "e3q8", not a reason)."""
    name = type(exc).__name__
    code = getattr(exc, "code", None)
    if type(exc).__module__.split(".")[0] in ("worker", "memory") and isinstance(code, str) and LABEL.match(code):
        return f"{_in_words(exc)} ({name}: {code})"
    return f"{_in_words(exc)} ({name})"


def _in_words(exc: BaseException) -> str:
    """What kind of failure, judged from the exception's class and its causes (never its text)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 5:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    names = " ".join(type(each).__name__ for each in seen).lower()
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code in ("backend_down", "store_unavailable"):
        names += " unavailable"
    for each in seen:
        if isinstance(each, ConnectionRefusedError):
            return "connection refused"
        if isinstance(each, TimeoutError | socket.timeout):
            return "timed out"
    if "timeout" in names:
        return "timed out"
    if any(word in names for word in ("connection", "operational", "interface", "unavailable")):
        return "cannot connect"
    if any(isinstance(each, OSError) for each in seen):
        return "network error"
    return "failed"


def check_redis(redis: Redis) -> str | None:
    try:
        redis.ping()
    except Exception as exc:
        return f"unreachable: {why(exc)}"
    return None


def check_store(store: MemoryStore) -> str | None:
    try:
        store.ping()
    except Exception as exc:
        return f"unreachable: {why(exc)}"
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
    if (get_redis := as_provider(redis)) is not None:
        checks["redis"] = _with(get_redis, check_redis, "not configured")
    if (get_store := as_provider(store)) is not None:
        checks["postgres"] = _with(get_store, check_store, "not open")
    if (get_engine := as_provider(engine)) is not None:
        checks["networks"] = _with(get_engine, check_networks, "not loaded")

    def health() -> dict[str, str | None]:
        return run_checks(checks)

    return health


def _with(get: Callable[[], T | None], check: Callable[[T], str | None], missing: str) -> Callable[[], str | None]:
    def run() -> str | None:
        try:
            value = get()
        except Exception as exc:
            return f"unavailable: {why(exc)}"
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
            results[name] = why(exc)  # "failed (RuntimeError)", "timed out (TimeoutError)"

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


def health_redis(url: str) -> Redis:
    """A Redis client for health checks and queue depth: short timeouts, so a scrape never hangs."""
    from redis import Redis  # only processes that check Redis load the client

    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


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
