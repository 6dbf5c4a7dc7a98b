"""`rapbot worker`: run Celery workers that serve the bots' requests (needs RAPBOT_REDIS_URL).

Roles: a GPU worker (`--role gpu`) keeps ONE copy of the networks and serves many requests at once
from a thread pool through the batching engine; a store worker (`--role store`) serves list, show,
forget, export and settings from a process that loads no network, so those answer while every GPU
worker is saturated; `--role all` (the default, for a single machine) runs both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from worker.settings import WorkerSettings


class Role(StrEnum):
    all = "all"
    gpu = "gpu"
    store = "store"


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("worker")(worker)
    deadletters = typer.Typer(help="Requests set aside because they stopped their worker again and again.")
    deadletters.command("list")(deadletters_list)
    deadletters.command("clear")(deadletters_clear)
    app.add_typer(deadletters, name="deadletters")


def _redis() -> Any:
    from redis import Redis

    from worker.settings import WorkerSettings

    settings = WorkerSettings()
    if not settings.redis_url:
        typer.echo("Set RAPBOT_REDIS_URL: dead letters live in the workers' Redis.", err=True)
        raise typer.Exit(code=2)
    return Redis.from_url(settings.redis_url, socket_connect_timeout=5)


def deadletters_list() -> None:
    """Show every dead letter: when, which request, what kind, why."""
    import json

    from worker.transport.wire import DEAD_LETTERS_KEY

    records = [json.loads(raw) for raw in _redis().lrange(DEAD_LETTERS_KEY, 0, -1)]
    if not records:
        typer.echo("No dead letters.")
        return
    for record in records:
        typer.echo(f"{record['at']}  {record['request_id']}  {record['method']}  {record['cause']}")
    typer.echo(f"{len(records)} dead letter(s). `rapbot deadletters clear` removes them.")


def deadletters_clear() -> None:
    """Remove every dead letter."""
    from worker.transport.wire import DEAD_LETTERS_KEY

    redis = _redis()
    count = int(redis.llen(DEAD_LETTERS_KEY))
    redis.delete(DEAD_LETTERS_KEY)
    typer.echo(f"Removed {count} dead letter(s).")


def worker(
    role: Role = typer.Option(
        Role.all,
        "--role",
        help="gpu: the pipeline queue (networks, batched); store: the store queue (no network); "
        "all: both, the store worker as a child process.",
    ),
    concurrency: int = typer.Option(
        0,
        "--concurrency",
        "-c",
        min=0,
        help="Requests in flight at once (threads). 0: twice the max batch for gpu, 8 for store.",
    ),
    max_batch: int = typer.Option(
        0, "--max-batch", min=0, help="Requests per batched forward pass (0: RAPBOT_MAX_BATCH, default 16; 1: off)."
    ),
    batch_wait_ms: float = typer.Option(
        -1.0, "--batch-wait-ms", help="How long a batch waits for more requests (default: RAPBOT_BATCH_WAIT_MS, 5)."
    ),
    pool: str = typer.Option(
        "threads",
        "--pool",
        help="Celery pool. threads (default): one process, one copy of the networks, batched. "
        "prefork: one process per --concurrency, each with its own networks (time limits enforced by Celery).",
    ),
    queues: str = typer.Option("", "--queues", "-Q", help="Comma-separated queues, instead of the role's."),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
) -> None:
    """Serve remember/answer requests (and store requests) from Redis. Networks load on the first request."""
    from worker.settings import WorkerSettings

    settings = WorkerSettings()
    if not settings.redis_url:
        typer.echo("Set RAPBOT_REDIS_URL (e.g. redis://localhost:6379/0) to run a worker.", err=True)
        raise typer.Exit(code=2)
    # The engine reads these from the environment (model.settings.ModelSettings), in every process.
    if max_batch:
        os.environ["RAPBOT_MAX_BATCH"] = str(max_batch)
    if batch_wait_ms >= 0:
        os.environ["RAPBOT_BATCH_WAIT_MS"] = str(batch_wait_ms)

    store_child: subprocess.Popen[bytes] | None = None
    if role is Role.all and not queues:
        store_child = _start_store_worker(loglevel)
        role = Role.gpu
    try:
        _run_celery(role, settings.pipeline_queue, settings.store_queue, queues, concurrency, pool, loglevel)
    finally:
        if store_child is not None:
            store_child.send_signal(signal.SIGTERM)  # a warm shutdown: it finishes what it runs
            try:
                store_child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                store_child.kill()


def _start_store_worker(loglevel: str) -> subprocess.Popen[bytes]:
    from worker.settings import WorkerSettings

    command = [sys.executable, "-m", "rapbot", "worker", "--role", "store", "--loglevel", loglevel]
    env = dict(os.environ)
    port = WorkerSettings().metrics_port
    if port:  # the GPU worker (this process) has the port; its store worker the next one
        env["RAPBOT_METRICS_PORT"] = str(port + 1)
    return subprocess.Popen(command, env=env)


def _serve_metrics(settings: WorkerSettings, *, serves_models: bool, in_process: bool) -> None:
    """/metrics and /healthz on RAPBOT_METRICS_PORT (worker/ops/metrics.py)."""
    from worker.ops import health, http, metrics, queues
    from worker.transport import tasks

    assert settings.redis_url and settings.metrics_port
    redis = health.health_redis(settings.redis_url)
    queues.watch_queues(redis, [settings.pipeline_queue, settings.store_queue], tasks.DEAD_LETTERS_KEY)
    if not in_process:  # prefork: the store and the networks live in the pool's children
        http.start_metrics_server(settings.metrics_port, health.health_checks(redis=redis))
        return

    def engine() -> Any:
        ctx = tasks.current_context()
        return ctx.runtime.engine if ctx is not None else None

    if serves_models:
        metrics.watch_engine(engine)
    http.start_metrics_server(
        settings.metrics_port,
        health.health_checks(
            redis=redis,
            store=lambda: tasks.context().runtime.store,  # opens the store on the first check, as a task would
            engine=engine if serves_models else None,
        ),
    )


def _run_celery(
    role: Role, pipeline_queue: str, store_queue: str, queues: str, concurrency: int, pool: str, loglevel: str
) -> None:
    from model.settings import ModelSettings
    from worker.ops import metrics
    from worker.settings import WorkerSettings
    from worker.transport import tasks

    serves_store_only = role is Role.store and not queues
    tasks.serve_models(not serves_store_only)
    if not concurrency:
        # Threads share one engine (in flight: twice a batch, so the next batch is always ready);
        # prefork processes each load their own networks: one per GPU.
        threads = 8 if serves_store_only else 2 * ModelSettings().max_batch
        concurrency = threads if pool == "threads" else 1
    chosen = queues or (store_queue if role is Role.store else pipeline_queue)
    settings = WorkerSettings()
    tasks.observe_with(request=metrics.observe_request, model_load=metrics.observe_model_load)
    celery = tasks.worker_app(settings)
    if settings.log_json:
        from worker.ops.logs import use_logging_in_celery

        use_logging_in_celery(True)
    if settings.metrics_port:
        _serve_metrics(settings, serves_models=not serves_store_only, in_process=pool == "threads")
    if not serves_store_only and pool == "threads":
        # One process holds the networks: load them as soon as it is up, not on a user's request.
        from celery.signals import worker_ready

        @worker_ready.connect(weak=False)
        def _load_networks(**_: object) -> None:
            import threading

            threading.Thread(target=tasks.warm_up, name="rapbot-warm-up", daemon=True).start()

    celery.worker_main(
        [
            "worker",
            f"--queues={chosen}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--loglevel={loglevel}",
            f"--hostname={role.value}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
