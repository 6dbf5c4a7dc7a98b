"""A frontend's client, metered: every call counted and timed (worker.ops.metrics), and the
frontend's /metrics and /healthz started when RAPBOT_METRICS_PORT is set (`observe_frontend`)."""

from __future__ import annotations

import time
from typing import Any

from worker.client import RapClient
from worker.domain.timing import RequestTiming, track_request
from worker.errors import RapError
from worker.ops.health import client_health
from worker.ops.http import start_metrics_server
from worker.ops.logs import configure_logging
from worker.ops.metrics import observe_request, watch_engine
from worker.settings import WorkerSettings


class MeteredClient(RapClient):
    """A frontend's client that records every call (kind, outcome, end-to-end time and the worker's
    stage timings) before passing its result or error on. Wraps a LocalClient or a CeleryClient:
    `client = MeteredClient(open_client())`; any other attribute is the wrapped client's."""

    def __init__(self, inner: RapClient) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def _call(self, method: str, **kwargs: Any) -> Any:
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


def metered(client: Any) -> Any:
    """`client` wrapped in a MeteredClient when it is a DispatchingClient (Local or Celery), else
    unchanged (a test's fake client)."""
    return MeteredClient(client) if isinstance(client, RapClient) else client


def observe_frontend(client: Any, settings: WorkerSettings | None = None, *, configure_logs: bool = True) -> Any:
    """What a bot calls once its client is open: JSON logs when RAPBOT_LOG_JSON=1 (unless
    `configure_logs` is False: the caller sets its own formatter), /metrics and /healthz when
    RAPBOT_METRICS_PORT is set; returns the client to use from then on (metered)."""
    settings = settings or WorkerSettings()
    if configure_logs and settings.log_json:
        configure_logging(json_logs=True)
    client = metered(client)
    if settings.metrics_port:
        runtime = getattr(getattr(client, "inner", client), "runtime", None)
        watch_engine(getattr(runtime, "engine", None))  # in-process pipeline: its batches
        start_metrics_server(settings.metrics_port, client_health(client), settings.metrics_host)
    return client


# ---- the server -------------------------------------------------------------------------------
