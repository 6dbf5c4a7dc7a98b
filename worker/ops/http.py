"""The operations port (RAPBOT_METRICS_PORT): /metrics (prometheus_client's own WSGI app) and
/healthz (200 "ok", or 503 with one line per failing part), from a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from worker.ops.health import Health, why
from worker.ops.metrics import REGISTRY, sync_engine

log = logging.getLogger(__name__)


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
        parts = {"health": why(exc)}
    failing = {name: why for name, why in parts.items() if why is not None}
    if not failing:
        return "200 OK", b"ok\n"
    lines = "".join(f"{name}: {why}\n" for name, why in sorted(failing.items()))
    return "503 Service Unavailable", lines.encode()


def start_metrics_server(port: int, health: Health | None = None, addr: str = "127.0.0.1") -> MetricsServer | None:
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
