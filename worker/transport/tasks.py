"""The Celery tasks: one body, two names (pipeline work on the GPU queue, store-only work on the
store queue). Idempotent by request id: a finished request's reply is kept in Redis, so a
redelivered task answers again without running again, and the store's request_id makes a write
that happened just before a crash count once.

The networks load lazily on the first task of each worker process (not in worker_process_init,
which Celery limits to 4 s), and stay loaded for the life of the process. A GPU worker runs its
tasks in a thread pool: every thread feeds the same serving engine, which batches them. Each
request carries its deadline (RAPBOT_TASK_SOFT_TIME_LIMIT_S): the engine drops it when it is still
queued then, and stops its generation, so a thread pool (which Celery cannot time-limit) keeps one.
A store worker (`rapbot worker --role store`) opens the store only and never imports a network."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from celery import Celery, Task
from redis import Redis

from model.batching import DeadlinePassed, request_deadline
from worker.client import PIPELINE, queue_of
from worker.domain.failures import as_rap_error
from worker.domain.runtime import Runtime
from worker.domain.timing import RequestTiming, track_request
from worker.errors import BAD_IMAGE, DEAD_LETTER, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.celery_app import PIPELINE_TASK, STORE_TASK, make_celery
from worker.transport.presence import Heartbeat
from worker.transport.reconnect import reconnect_options
from worker.transport.redis_pending import RedisPendingStore
from worker.transport.wire import (
    TRANSIENT_CODES,
    deliveries_key,
    done_key,
    error_envelope,
    ok_envelope,
    outcome_of,
    reply_key,
    timing_of,
)


@dataclass
class WorkerContext:
    runtime: Runtime
    redis: Redis
    settings: WorkerSettings


_context: WorkerContext | None = None
_context_lock = threading.Lock()
_serve_models = True
ENGINE_STATS_PREFIX = "rapbot:engine:"
CLIENT_GRACE_S = 5.0  # a request's deadline comes this long before its client gives up
log = logging.getLogger(__name__)


class RequestObserver(Protocol):
    def __call__(
        self, kind: str, outcome: str, seconds: float, timing: RequestTiming | None = None, *, request_id: str | None
    ) -> None: ...


def _unobserved_request(
    kind: str, outcome: str, seconds: float, timing: RequestTiming | None = None, *, request_id: str | None
) -> None:
    pass


def _unobserved_load(seconds: float) -> None:
    pass


# Operations (worker.ops) watch the tasks through these: the transport never imports operations.
_observe_request: RequestObserver = _unobserved_request
_observe_model_load: Callable[[float], None] = _unobserved_load


def observe_with(request: RequestObserver, model_load: Callable[[float], None]) -> None:
    """Report every finished request and the networks' load time to these (worker.ops.metrics)."""
    global _observe_request, _observe_model_load
    _observe_request, _observe_model_load = request, model_load


def serve_models(enabled: bool) -> None:
    """Before the first task: False makes this process a store worker that loads no network."""
    global _serve_models
    _serve_models = enabled


def redis_for(settings: WorkerSettings) -> Redis:
    """The worker's Redis: a connection that died with a Redis restart is retried once at once (and
    idle ones are checked before use), so the first request after the restart is served."""
    assert settings.redis_url
    return Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=30, **reconnect_options())


def use_context(context: WorkerContext | None) -> None:
    """Serve tasks with an already open runtime (tests, embedding); None drops it."""
    global _context
    _context = context


def context() -> WorkerContext:
    """This process's store and networks, opened on the first task and kept."""
    global _context
    if _context is None:
        with _context_lock:
            if _context is None:
                settings = WorkerSettings()
                redis = redis_for(settings)
                pending = RedisPendingStore(redis, settings.pending_ttl_s)
                runtime = Runtime.open(settings, pending, serve_models=_serve_models)
                _context = WorkerContext(runtime=runtime, redis=redis, settings=settings)
    return _context


def _decode_kwargs(redis: Redis, kwargs: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(kwargs)
    if "who" in kwargs:  # every operation takes the requester
        decoded["who"] = Requester.model_validate(kwargs["who"])

    def fetch(key: str) -> bytes:
        data = redis.get(key)
        if data is None:
            raise RapError(BAD_IMAGE, "The photo expired before it could be processed. Please send it again.")
        return bytes(data)  # type: ignore[arg-type]

    if "images" in kwargs:
        decoded["images"] = [fetch(key) for key in kwargs["images"]]
    if kwargs.get("image") is not None:
        decoded["image"] = fetch(kwargs["image"])
    return decoded


def run_request(method: str, kwargs: dict[str, Any], request_id: str, expires: Any = None) -> None:
    """Run one request and push its reply; a request already answered is answered again from Redis.
    `expires`: when its client stops waiting (Celery's `expires`); the request's deadline is set a
    little before, so its reply (maybe "too late") always reaches a client that still waits."""
    start = time.perf_counter()
    try:
        ctx = context()
    except Exception as exc:  # Postgres down or misconfigured: say so, and try again next request
        error = as_rap_error(exc)
        _reply_unavailable(request_id, error)
        _observe_request(method, error.code, time.perf_counter() - start, request_id=request_id)
        return
    expiry = ctx.settings.result_expires_s
    # Counted BEFORE the done key is read: a client that finds no worker cancels a request by
    # writing its done key, then checks that no delivery was counted (see CeleryClient).
    deliveries = _count_delivery(ctx, request_id)
    envelope = ctx.redis.get(done_key(request_id))
    replayed = envelope is not None
    with ctx.redis.pipeline() as pipe:
        if envelope is None:
            if deliveries > ctx.settings.max_deliveries:
                try:
                    envelope, final = dead_letter(ctx, method, request_id, deliveries), True
                except Exception as exc:  # Postgres down: say so; a later delivery records it
                    envelope, final = error_envelope(as_rap_error(exc)), False
            else:
                envelope, final = _execute(ctx, method, kwargs, _seconds_left(ctx.settings, expires))
            if final:
                pipe.set(done_key(request_id), envelope, ex=expiry)
                for key in _blob_keys(kwargs):
                    pipe.delete(key)
        pipe.rpush(reply_key(request_id), envelope)
        pipe.expire(reply_key(request_id), expiry)
        stats = ctx.runtime.engine_stats()
        if stats is not None:  # for operators and bench/load.py: what batching is doing
            pipe.set(engine_stats_key(), json.dumps(stats), ex=expiry)
        pipe.execute()
    timing = None if replayed else timing_of(envelope)
    _observe_request(method, outcome_of(envelope), time.perf_counter() - start, timing, request_id=request_id)


def current_context() -> WorkerContext | None:
    """This process's context when it is open; never opens it (metrics, health)."""
    return _context


def warm_up() -> None:
    """Open the store and load the networks before the first request (a GPU worker calls this
    from a thread when it starts; a request that comes first waits for the same load)."""
    try:
        engine = context().runtime.engine
        if engine is not None:
            start = time.perf_counter()
            engine.warm_up()
            _observe_model_load(time.perf_counter() - start)
            log.info("networks loaded")
    except Exception:  # the first request reports the same failure to its user, clearly
        log.exception("could not load the networks ahead of the first request")


def engine_stats_key() -> str:
    return f"{ENGINE_STATS_PREFIX}{socket.gethostname()}:{os.getpid()}"


def _reply_unavailable(request_id: str, error: RapError) -> None:
    settings = WorkerSettings()
    redis = redis_for(settings)
    try:
        with redis.pipeline() as pipe:
            pipe.rpush(reply_key(request_id), error_envelope(error))
            pipe.expire(reply_key(request_id), settings.result_expires_s)
            pipe.execute()
    finally:
        redis.close()


def _count_delivery(ctx: WorkerContext, request_id: str) -> int:
    """How many times this request has been delivered to a worker, this time included."""
    key = deliveries_key(request_id)
    with ctx.redis.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, ctx.settings.result_expires_s)
        count, _ = pipe.execute()
    return int(count)


def dead_letter(ctx: WorkerContext, method: str, request_id: str, deliveries: int) -> str:
    """Set a request aside that stopped its worker every time it ran, and tell its user. The record
    names the request and the cause, never its photo or text."""
    cause = f"its worker stopped (killed or out of memory) on each of {deliveries - 1} deliveries"
    # In Postgres, so the record outlives a Redis restart. Postgres down: a transient error, and a
    # later delivery records it (the request is not run again either way).
    ctx.runtime.store.add_dead_letter(request_id, method, deliveries, cause)
    log.error("request %s (%s) is a dead letter after %d deliveries", request_id, method, deliveries - 1)
    what = "photo" if queue_of(method) == PIPELINE else "request"
    return error_envelope(
        RapError(
            DEAD_LETTER,
            f"This {what} could not be processed: it stopped the bot's worker each time it was tried. "
            "It was set aside for the bot's operators; please do not send it again.",
        )
    )


def _seconds_left(settings: WorkerSettings, expires: Any) -> float:
    """This request's time budget: the soft limit, cut so it ends before its client gives up."""
    budget = float(settings.task_soft_time_limit_s)
    if expires:
        at = expires if isinstance(expires, datetime) else datetime.fromisoformat(str(expires))
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        budget = min(budget, (at - datetime.now(UTC)).total_seconds() - CLIENT_GRACE_S)
    return budget


def _execute(ctx: WorkerContext, method: str, kwargs: dict[str, Any], seconds: float) -> tuple[str, bool]:
    """The reply envelope, and whether it is final (not a transient error worth a retry)."""
    timing: RequestTiming
    try:
        if seconds <= 0:
            raise DeadlinePassed("its client stopped waiting before it could start")
        with request_deadline(seconds), track_request() as timing:
            result = ctx.runtime.call(method, **_decode_kwargs(ctx.redis, kwargs))
        return ok_envelope(method, result, timing), True
    except Exception as exc:  # every failure becomes a reply, never a Celery retry
        error = as_rap_error(exc)
        return error_envelope(error), error.code not in TRANSIENT_CODES


def _blob_keys(kwargs: dict[str, Any]) -> list[str]:
    keys = list(kwargs.get("images") or [])
    if kwargs.get("image"):
        keys.append(kwargs["image"])
    return keys


def worker_app(settings: WorkerSettings) -> Celery:
    """The Celery app of a worker: the client's app (worker/transport/celery_app.py) with the tasks registered."""
    app = make_celery(settings)
    register_tasks(app)
    return app


def register_tasks(app: Celery) -> None:
    app.steps["consumer"].add(Heartbeat)  # clients can tell "no worker" from "busy"
    for name in (PIPELINE_TASK, STORE_TASK):
        # shared=False: these tasks belong to this app only (a second app in the same process, as in
        # the tests, would otherwise inherit them and refuse its own under the same names).
        @app.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True, shared=False)
        def _task(self: Task, method: str, kwargs: dict[str, Any], request_id: str) -> None:
            run_request(method, kwargs, request_id, expires=self.request.expires)
