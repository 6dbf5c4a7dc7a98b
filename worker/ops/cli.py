"""`rapbot worker`: run Celery workers that serve the bots' requests (needs RAPBOT_REDIS_URL).

Roles: a GPU worker (`--role gpu`) keeps ONE copy of the networks and serves many requests at once
from a thread pool through the batching engine; a store worker (`--role store`) serves list, show,
forget, export and settings from a process that loads no network, so those answer while every GPU
worker is saturated; `--role all` (the default, for a single machine) runs both."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from enum import StrEnum
from typing import Any

import typer

from model.settings import ModelSettings
from worker.settings import WorkerSettings


class Role(StrEnum):
    all = "all"
    gpu = "gpu"
    store = "store"


def _model() -> Any:
    """The model settings as configured (RAPBOT_MAX_BATCH...), for the defaults the help shows."""
    try:
        return ModelSettings()
    except ValueError:  # a bad setting is reported when the command runs, not in --help
        return ModelSettings.model_construct()


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("worker")(worker)
    deadletters = typer.Typer(help="Requests set aside because they stopped their worker again and again.")
    deadletters.command("list")(deadletters_list)
    deadletters.command("clear")(deadletters_clear)
    app.add_typer(deadletters, name="deadletters")


def _store() -> Any:
    """The memory store: dead letters live in Postgres, beside the memories (migration 0005)."""
    # SQLAlchemy and the store load for the deadletters commands only, not for `rapbot --help`.
    from memory.errors import StoreUnavailable
    from memory.store import MemoryStore

    try:
        return MemoryStore.open()
    except StoreUnavailable as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(code=1) from None


def deadletters_list() -> None:
    """Show every dead letter: when, which request, what kind, why."""
    with _store() as store:
        records = store.list_dead_letters()
    if not records:
        typer.echo("No dead letters.")
        return
    for record in records:
        at = record.at.isoformat(timespec="seconds")
        typer.echo(f"{at}  {record.request_id}  {record.method}  {record.cause}")
    typer.echo(f"{len(records)} dead letter(s). `rapbot deadletters clear` removes them.")


def deadletters_clear() -> None:
    """Remove every dead letter."""
    with _store() as store:
        count = store.clear_dead_letters()
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
        0,
        "--max-batch",
        min=0,
        show_default=False,
        help="Requests per batched forward pass; 1: no batching "
        f"[default: RAPBOT_MAX_BATCH, now {_model().max_batch}].",
    ),
    batch_wait_ms: float = typer.Option(
        -1.0,
        "--batch-wait-ms",
        show_default=False,
        help="How long a batch waits for more requests, in ms "
        f"[default: RAPBOT_BATCH_WAIT_MS, now {_model().batch_wait_ms:g}].",
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
    """Serve remember/answer requests (and store requests) from Redis. A GPU worker (threads pool)
    loads its networks as soon as it is up; with --pool prefork each process loads them on its first
    request."""
    settings = WorkerSettings()
    if not settings.redis_url:
        typer.echo("Set RAPBOT_REDIS_URL (e.g. redis://localhost:6379/0) to run a worker.", err=True)
        raise typer.Exit(code=2)
    # The engine reads these from the environment (model.settings.ModelSettings), in every process.
    if max_batch:
        os.environ["RAPBOT_MAX_BATCH"] = str(max_batch)
    if batch_wait_ms >= 0:
        os.environ["RAPBOT_BATCH_WAIT_MS"] = str(batch_wait_ms)

    if role is Role.all and not queues:
        raise typer.Exit(code=_supervise(settings, concurrency, pool, loglevel))
    code = _run_celery(role, settings.pipeline_queue, settings.store_queue, queues, concurrency, pool, loglevel)
    if code:
        raise typer.Exit(code=code)


RESTART_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # a role that keeps failing is restarted ever more slowly
STABLE_S = 60.0  # ... and one that ran this long before it stopped starts again at once


def _supervise(settings: WorkerSettings, concurrency: int, pool: str, loglevel: str) -> int:
    """`--role all`: the GPU worker and the store worker as child processes of this one, which
    loads nothing. A child that stops on its own (a crash, or an exit of any status it was not asked
    for) is started again; SIGTERM or SIGINT stops both (a warm shutdown) and exits 0. While this
    process lives it counts as a worker of both queues (presence), so a client waits for a role
    being restarted instead of giving up on it; a killed machine (this process gone too) is
    reported to clients within seconds."""
    from worker.transport.presence import start_heartbeat  # Celery and Redis: only when a worker runs

    log = logging.getLogger("rapbot.worker")
    logging.basicConfig(level=loglevel.upper(), format="[%(asctime)s: %(levelname)s/supervisor] %(message)s")
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    assert settings.redis_url
    beat = start_heartbeat(settings.redis_url, [settings.pipeline_queue, settings.store_queue])
    roles = (Role.gpu, Role.store)
    children: dict[Role, subprocess.Popen[bytes]] = {}
    started: dict[Role, float] = {}
    failures: dict[Role, int] = dict.fromkeys(roles, 0)
    due: dict[Role, float] = dict.fromkeys(roles, 0.0)
    try:
        while not stopping:
            now = time.monotonic()
            for role in roles:
                child = children.get(role)
                if child is not None and child.poll() is not None:
                    ran = now - started[role]
                    failures[role] = 0 if ran >= STABLE_S else failures[role] + 1
                    delay = RESTART_DELAYS_S[min(failures[role], len(RESTART_DELAYS_S)) - 1] if failures[role] else 0.0
                    log.error(
                        "the %s worker stopped (exit status %s) after %.0f s; starting it again in %.0f s",
                        role.value,
                        child.returncode,
                        ran,
                        delay,
                    )
                    del children[role]
                    due[role] = now + delay
                if role not in children and now >= due[role] and not stopping:
                    children[role] = _start_role(role, settings, concurrency, pool, loglevel)
                    started[role] = now
            time.sleep(0.2)
    finally:
        for child in children.values():
            child.send_signal(signal.SIGTERM)  # a warm shutdown: each finishes what it runs
        for child in children.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        beat.set()
    return 0


def _start_role(
    role: Role, settings: WorkerSettings, concurrency: int, pool: str, loglevel: str
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "rapbot", "worker", "--role", role.value, "--loglevel", loglevel]
    if role is Role.gpu:
        command += ["--pool", pool, "--concurrency", str(concurrency)]
    env = dict(os.environ)
    if settings.metrics_port and role is Role.store:  # the GPU worker has the port; the store worker the next
        env["RAPBOT_METRICS_PORT"] = str(settings.metrics_port + 1)
    return subprocess.Popen(command, env=env)


def _serve_metrics(settings: WorkerSettings, *, serves_models: bool, in_process: bool) -> None:
    """/metrics and /healthz on RAPBOT_METRICS_PORT (worker/ops/metrics.py)."""
    # prometheus and the tasks (Celery, the pipeline) load when a worker runs, not for `rapbot --help`.
    from worker.ops import health, http, metrics, queues
    from worker.transport import tasks

    assert settings.redis_url and settings.metrics_port
    redis = health.health_redis(settings.redis_url)
    queues.watch_queues(
        redis,
        [settings.pipeline_queue, settings.store_queue],
        count_dead_letters=_dead_letters_counter(),
    )
    if not in_process:  # prefork: the store and the networks live in the pool's children
        http.start_metrics_server(settings.metrics_port, health.health_checks(redis=redis), settings.metrics_host)
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
        settings.metrics_host,
    )


def _dead_letters_counter() -> Any:
    """Counts the dead letters through this process's store once it is open (left out till then)."""
    from worker.transport import tasks  # Celery and the pipeline: only when a worker runs

    def count() -> int:
        ctx = tasks.current_context()
        if ctx is None:
            raise LookupError("the store is not open yet")
        return int(ctx.runtime.store.count_dead_letters())

    return count


def _run_celery(
    role: Role, pipeline_queue: str, store_queue: str, queues: str, concurrency: int, pool: str, loglevel: str
) -> int:
    """Run the Celery worker; its exit status. A worker that stops without being asked to (no
    SIGTERM, SIGINT or SIGQUIT: e.g. its consumer failed after a broker restart) exits 1, never 0,
    so the `--role all` parent, compose or systemd start it again."""
    # Celery, prometheus and the pipeline load when a worker runs, not for `rapbot --help`.
    from celery.signals import worker_ready, worker_shutting_down

    from worker.ops import metrics
    from worker.ops.logs import use_logging_in_celery
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
        use_logging_in_celery(True)
    if settings.metrics_port:
        _serve_metrics(settings, serves_models=not serves_store_only, in_process=pool == "threads")
    if not serves_store_only and pool == "threads":
        # One process holds the networks: load them as soon as it is up, not on a user's request.
        @worker_ready.connect(weak=False)
        def _load_networks(**_: object) -> None:
            threading.Thread(target=tasks.warm_up, name="rapbot-warm-up", daemon=True).start()

    asked: list[str] = []

    @worker_shutting_down.connect(weak=False)
    def _asked_to_stop(sig: str = "", **_: object) -> None:
        asked.append(sig)

    try:
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
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    if code == 0 and not asked:
        logging.getLogger("rapbot.worker").error(
            "the %s worker stopped without being asked to: exit status 1, so that it is started again", role.value
        )
        return 1
    return code
