"""Per-request overhead and throughput of the Celery path, on the tiny profile, real Redis, real
Celery worker (a subprocess, prefork, concurrency 1) and real Postgres (embedded pgserver).

Overhead = end-to-end time at the client minus the time the worker spent inside the networks (the
task reports it), i.e. queueing, Redis, Postgres, (de)serialisation and image decoding.

    .venv/bin/python bench/pipeline.py [--requests 40] [--redis redis://127.0.0.1:6379/12]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from offline_env import ROOT


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def photo(mirrored: bool = False) -> bytes:
    """skimage's chelsea as a JPEG; `mirrored`: a second, different photo of her (the store refuses
    the very same photo twice in one concept)."""
    from PIL import Image, ImageOps
    from skimage import data

    buffer = io.BytesIO()
    image = Image.fromarray(data.chelsea())
    (ImageOps.mirror(image) if mirrored else image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


async def overhead(client: Any, who: Any, image: bytes, requests: int, path: str) -> None:
    for label, method, kwargs in (
        ("answer (photo + question)", "answer", {"who": who, "image": image, "text": "what is <mochi> doing?"}),
        ("list (store only)", "list_concepts", {"who": who, "offset": 0, "limit": 20}),
    ):
        totals, overheads = [], []
        for _ in range(requests):
            start = time.perf_counter()
            _, timing = await client.call_timed(method, **kwargs)
            total = time.perf_counter() - start
            totals.append(total)
            overheads.append(total - timing.model_s)
        print(
            f"{path:6s} {label:28s} end-to-end p50 {statistics.median(totals) * 1e3:7.1f} ms  "
            f"overhead p50 {statistics.median(overheads) * 1e3:6.1f} ms  p99 {percentile(overheads, 99) * 1e3:6.1f} ms"
        )


async def in_process(database_url: str, who: Any, image: bytes, args: argparse.Namespace) -> None:
    """The same requests through LocalClient (no Redis, no Celery) on the same database: what the
    Celery path adds is the difference."""
    from memory.store import MemoryStore
    from model.profiles import load_bundle
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    store = MemoryStore(database_url)
    local = LocalClient.for_store(store, load_bundle("tiny"), WorkerSettings(reply_max_new_tokens=args.max_new_tokens))

    class Timed:
        async def call_timed(self, method: str, **kwargs: Any) -> tuple[Any, Any]:
            from worker.domain.timing import track_request

            with track_request() as timing:
                result = await asyncio.to_thread(local.runtime.call, method, **kwargs)
            return result, timing

    await local.answer(who, image, "warm-up")
    await overhead(Timed(), who, image, args.requests, "local")
    await local.close()


async def throughput(client: Any, who: Any, image: bytes, concurrency: int, per_client: int) -> None:
    async def one_client() -> None:
        for _ in range(per_client):
            await client.answer(who, image, "what is <mochi> doing?")

    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    print(f"{concurrency:2d} concurrent clients: {concurrency * per_client / elapsed:6.2f} answers/s")


async def run(args: argparse.Namespace, database_url: str) -> None:
    from worker.schemas import Requester
    from worker.settings import WorkerSettings
    from worker.transport.celery_client import CeleryClient

    run_id = uuid.uuid4().hex[:8]
    settings = WorkerSettings(
        redis_url=args.redis, pipeline_queue=f"bench-{run_id}-gpu", store_queue=f"bench-{run_id}-store"
    )
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        RAPBOT_REDIS_URL=args.redis,
        RAPBOT_DATABASE_URL=database_url,
        RAPBOT_PROFILE="tiny",
        RAPBOT_PIPELINE_QUEUE=settings.pipeline_queue,
        RAPBOT_STORE_QUEUE=settings.store_queue,
        RAPBOT_REPLY_MAX_NEW_TOKENS=str(args.max_new_tokens),
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "rapbot", "worker", "--concurrency", "1", "--loglevel", "WARNING"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    client = CeleryClient(settings)
    try:
        who = Requester(platform="bench", user_id="u1")
        image = photo()
        start = time.perf_counter()
        await client.update_settings(who, similarity_threshold=0.0)
        await client.remember(who, "mochi", "a cat who loves sardines", [image, photo(mirrored=True)])
        print(f"first request (worker start + model load): {time.perf_counter() - start:.1f} s")
        await client.answer(who, image, "warm-up")
        await overhead(client, who, image, args.requests, "celery")
        await in_process(database_url, who, image, args)
        for concurrency in (1,) if args.smoke else (1, 4, 16):
            await throughput(client, who, image, concurrency, max(1, args.requests // concurrency))
    finally:
        await client.close()
        os.kill(worker.pid, signal.SIGTERM)  # warm shutdown: the worker stops its own children
        worker.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="CI size: 2 requests, one chat at a time, 4 tokens")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.max_new_tokens = 2, 4

    import pgserver

    from memory.migrate import upgrade

    datadir = Path(tempfile.mkdtemp(prefix="rbb-", dir="/tmp"))
    server = pgserver.get_server(datadir, cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE bench;")
        database_url = server.get_uri("bench").replace("postgresql://", "postgresql+psycopg://", 1)
        upgrade(database_url)
        asyncio.run(run(args, database_url))
    finally:
        server.cleanup()
        shutil.rmtree(datadir, ignore_errors=True)


if __name__ == "__main__":
    main()
