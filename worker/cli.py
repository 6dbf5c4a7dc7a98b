"""`rapbot worker`: run a Celery worker that serves the pipeline (needs RAPBOT_REDIS_URL)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("worker")(worker)


def worker(
    queues: str = typer.Option(
        "", "--queues", "-Q", help="Comma-separated queues to serve (default: the pipeline and store queues)."
    ),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Worker processes (one GPU: keep 1)."),
    pool: str = typer.Option("prefork", "--pool", help="Celery pool: prefork (time limits enforced) or solo."),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
) -> None:
    """Serve remember/answer requests from Redis. Networks load on the first request."""
    from worker.celery_app import make_celery
    from worker.settings import WorkerSettings

    settings = WorkerSettings()
    if not settings.redis_url:
        typer.echo("Set RAPBOT_REDIS_URL (e.g. redis://localhost:6379/0) to run a worker.", err=True)
        raise typer.Exit(code=2)
    chosen = queues or f"{settings.pipeline_queue},{settings.store_queue}"
    celery = make_celery(settings, with_tasks=True)
    celery.worker_main(
        [
            "worker",
            f"--queues={chosen}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
