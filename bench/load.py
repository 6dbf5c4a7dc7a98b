"""Load test of batched serving: N simulated chats against the REAL Celery path (a private
redis-server on a free loopback port, an embedded Postgres + pgvector, `rapbot worker --role gpu`
and `rapbot worker --role store` subprocesses), once with batching on (`--max-batch`, default 16)
and once with `--max-batch 1`, the same chats, photos and questions in both modes.

Each chat is its own user: it remembers a concept from one photo (skimage.data), then asks "what
is <name> doing?" about that photo again and again for `--seconds` per level (or
`--requests-per-chat`; `--text-only` asks "what does <name> like?" without a photo instead, which
isolates the generator). A probe loop sends `list_concepts` every ~50 ms meanwhile: the store
worker should keep it fast while generations saturate the GPU worker. Cold start (the first
request of each GPU worker) is measured apart and excluded; every mode is warmed up first.

Per level it prints: answers/s, end-to-end p50/p99, store-request p99 under that load, mean
generation and detection batch, images through the generator's vision tower per answer, generated
tokens per answer and generation-stage tokens/s (from the GPU worker's engine statistics in
Redis); then, at the smallest level and at 16 chats, the time per stage (decode, detect, faces,
embed, search, generate, draw: mean ms per answer, batched vs one at a time) with the mean batch of
each batched stage: what to fix next. The last line is

    batching speedup at 16 chats: <X>x answers/s, generation stage <Y>x tokens/s

Usage (tiny profile, CPU; settings such as RAPBOT_MODEL_DIR / RAPBOT_ENCODER / RAPBOT_DETECTOR /
RAPBOT_GENERATOR pass through the environment to the workers):

    .venv/bin/python bench/load.py [--quick] [--levels 1,4,16,32] [--seconds 15]
        [--requests-per-chat N] [--profile tiny] [--device auto|cpu|cuda] [--engine hf|vllm]
        [--vllm-url http://127.0.0.1:8000] [--max-batch 16] [--max-new-tokens 32] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from offline_env import ROOT

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, via pgserver's import
T = TypeVar("T")

# Photos the chats remember and ask about (skimage.data name, concept name, description).
PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("chelsea", "mochi", "a tabby cat who loves sardines"),
    ("astronaut", "eileen", "my aunt, the astronaut"),
    ("coffee", "java", "my favourite mug of coffee"),
    ("rocket", "saturn", "the rocket from the museum trip"),
    ("hubble_deep_field", "hubble", "the night sky from my telescope"),
    ("immunohistochemistry", "slide", "my lab's favourite tissue slide"),
)
STAGES = ("decode", "detect", "faces", "embed", "search", "generate", "draw")
BATCHED = ("detect", "embed", "generate")  # the stages the serving engine batches
PROBE_INTERVAL_S = 0.05
MAX_CHATS = 64
MAX_SECONDS = 600.0
MAX_REQUESTS_PER_CHAT = 1000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ENGINE_KEYS = "rapbot:engine:*"


# ---- small helpers --------------------------------------------------------------------------


class Output:
    """print(), and the same lines appended to --output when given."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(line + "\n")


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:.{digits}f}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def photo_bytes(name: str) -> bytes:
    from PIL import Image
    from skimage import data

    array = getattr(data, name)()
    image = Image.fromarray(array)
    if image.mode != "RGB":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@dataclass
class Timing:
    """What the reply envelope says about one request (worker.domain.timing.RequestTiming, or the older
    bare float of model seconds)."""

    model_s: float
    stages: dict[str, float] = field(default_factory=dict)
    generate_batch: int = 0
    generated_tokens: int = 0

    @classmethod
    def of(cls, raw: Any) -> Timing:
        if isinstance(raw, int | float):
            return cls(model_s=float(raw))
        stages = getattr(raw, "stages", None) or {}
        return cls(
            model_s=float(getattr(raw, "model_s", 0.0) or 0.0),
            stages={str(k): float(v) for k, v in dict(stages).items()},
            generate_batch=int(getattr(raw, "generate_batch", 0) or 0),
            generated_tokens=int(getattr(raw, "generated_tokens", 0) or 0),
        )


# ---- services: redis-server, Postgres, workers ------------------------------------------------


class WorkerDied(RuntimeError):
    pass


class Services:
    """Every process this bench starts, so that all of them stop at the end, also on Ctrl-C."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.pg: Any = None

    def start_redis(self, redis_server: str) -> str:
        port = free_port()
        log = self.workdir / "redis.log"
        self.logs["redis"] = log
        with log.open("wb") as handle:
            self.procs["redis"] = subprocess.Popen(
                [redis_server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.workdir,
            )
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if self.procs["redis"].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start; see {log}") from None
                time.sleep(0.05)
        client.close()
        return f"redis://127.0.0.1:{port}/0"

    def start_postgres(self) -> str:
        import pgserver

        from memory.migrate import upgrade

        datadir = Path(tempfile.mkdtemp(prefix="rbl-", dir="/tmp"))  # short: the socket path limit
        self.pg = (pgserver.get_server(datadir, cleanup_mode="stop"), datadir)
        self.pg[0].psql("CREATE DATABASE bench;")
        url: str = self.pg[0].get_uri("bench").replace("postgresql://", "postgresql+psycopg://", 1)
        upgrade(url)
        return url

    def start_worker(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        with log.open("ab") as handle:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "rapbot", "worker", *args],
                env=env,
                cwd=ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self, names: Sequence[str]) -> None:
        for name in names:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise WorkerDied(f"{name} exited with code {proc.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            text = self.logs[name].read_text(errors="replace").splitlines()
        except (KeyError, OSError):
            return "(no log)"
        return "\n".join("    " + line for line in text[-lines:])

    def stop(self, name: str, grace_s: float = 30.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.kill(proc.pid, signal.SIGTERM)  # a Celery worker's warm shutdown stops its children
            proc.wait(timeout=grace_s)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what this bench started
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in [n for n in self.procs if n != "redis"]:
            self.stop(name, grace_s=10.0)
        self.stop("redis", grace_s=5.0)
        if self.pg is not None:
            server, datadir = self.pg
            self.pg = None
            try:
                server.cleanup()
            finally:
                shutil.rmtree(datadir, ignore_errors=True)


def worker_supports_roles() -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "rapbot", "worker", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            COLUMNS="200",
        ),
        timeout=120,
    ).stdout
    return "--role" in help_text


# ---- engine statistics in Redis -----------------------------------------------------------------


def engine_totals(redis_url: str) -> dict[str, dict[str, float]] | None:
    """Sum of every GPU worker's cumulative engine statistics; None when no worker wrote any."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=ENGINE_KEYS, count=100))
        if not keys:
            return None
        totals: dict[str, dict[str, float]] = {}
        for raw in client.mget(keys):
            if raw is None:
                continue
            try:
                stats = json.loads(raw)
            except ValueError:
                continue
            for stage, values in stats.items():
                if not isinstance(values, dict):
                    continue
                into = totals.setdefault(stage, {})
                for key, value in values.items():
                    if isinstance(value, int | float) and key not in ("mean_batch", "largest"):
                        into[key] = into.get(key, 0.0) + float(value)
        return totals
    finally:
        client.close()


def clear_engine_stats(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=ENGINE_KEYS, count=100))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def engine_delta(
    before: dict[str, dict[str, float]] | None, after: dict[str, dict[str, float]] | None, stage: str
) -> dict[str, float]:
    if after is None:
        return {}
    start = (before or {}).get(stage, {})
    return {key: value - start.get(key, 0.0) for key, value in after.get(stage, {}).items()}


# ---- the load -----------------------------------------------------------------------------------


@dataclass
class Chat:
    who: Any  # worker.schemas.Requester
    name: str
    description: str
    image: bytes

    text_only: bool = False  # ask about the concept without a photo: no detect/embed/search

    @property
    def question(self) -> str:
        return f"what does <{self.name}> like?" if self.text_only else f"what is <{self.name}> doing?"

    @property
    def photo(self) -> bytes | None:
        return None if self.text_only else self.image


@dataclass
class LevelResult:
    mode: str
    chats: int
    answers: int
    elapsed_s: float
    answers_per_s: float
    latencies: list[float]
    timings: list[Timing]
    store_latencies: list[float]
    generate: dict[str, float]
    errors: int
    # Engine statistics over the level, per batched network, and the vision tower's (hf engine).
    engine: dict[str, dict[str, float]] = field(default_factory=dict)

    def mean_batch(self, stage: str) -> float | None:
        figures = self.engine.get(stage, {})
        batches = figures.get("batches", 0.0)
        return figures.get("requests", 0.0) / batches if batches > 0 else None

    @property
    def vision_images_per_answer(self) -> float | None:
        """Images through the generator's vision tower per answer (1 for a photo answer whose
        concepts' photos are cached; 1 + concepts without the cache)."""
        images = self.engine.get("vision", {}).get("images")
        return images / self.answers if images is not None and self.answers else None

    @property
    def vision_calls_per_answer(self) -> float | None:
        calls = self.engine.get("vision", {}).get("calls")
        return calls / self.answers if calls is not None and self.answers else None

    @property
    def gen_tokens_per_s(self) -> float | None:
        busy = self.generate.get("busy_s", 0.0)
        tokens = self.generate.get("tokens", 0.0)
        return tokens / busy if busy > 0 and tokens > 0 else None

    @property
    def mean_gen_batch(self) -> float | None:
        batches = self.generate.get("batches", 0.0)
        if batches > 0:
            return self.generate.get("requests", 0.0) / batches
        sizes = [t.generate_batch for t in self.timings if t.generate_batch]
        return mean(sizes) if sizes else None

    def stage_ms(self, stage: str) -> float | None:
        values = [t.stages[stage] for t in self.timings if stage in t.stages]
        return mean(values) * 1e3 if values else None

    @property
    def tokens_per_answer(self) -> float | None:
        tokens = [t.generated_tokens for t in self.timings]
        return mean(tokens) if any(tokens) else None


class Bench:
    def __init__(self, args: argparse.Namespace, services: Services, out: Output) -> None:
        self.args = args
        self.services = services
        self.out = out
        self.redis_url = ""
        self.client: Any = None
        self.chats: list[Chat] = []
        self.watch: list[str] = []

    async def guarded(self, awaitable: Awaitable[T]) -> T:
        """Await, but fail fast (WorkerDied) when a watched worker process exits meanwhile."""
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=0.5)
                if done:
                    return task.result()
                self.services.check_alive(self.watch)
        finally:
            if not task.done():
                task.cancel()

    async def worker_up(self, queue: str, timeout_s: float = 900.0) -> None:
        """Wait until a worker of `queue` announces itself (worker/transport/presence.py): a request
        sent while none has yet (a GPU worker still starting) is refused as "no bot worker"."""
        from redis import Redis

        from worker.transport.presence import STALE_S, presence_key

        redis = Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout_s
        try:
            while not redis.zcount(presence_key(queue), time.time() - STALE_S, "+inf"):
                self.services.check_alive(self.watch)
                if time.monotonic() > deadline:
                    raise WorkerDied(f"no worker of {queue} announced itself within {timeout_s:.0f} s")
                await asyncio.sleep(0.5)
        finally:
            redis.close()

    async def timed_call(self, method: str, **kwargs: Any) -> tuple[Any, Timing, float]:
        """The result, what the worker reported (Timing) and the end-to-end seconds at the client."""
        start = time.perf_counter()
        result, raw = await self.client.call_timed(method, **kwargs)
        return result, Timing.of(raw), time.perf_counter() - start

    async def remember_all(self) -> None:
        async def one(chat: Chat) -> None:
            await self.client.update_settings(chat.who, similarity_threshold=0.0)
            result = await self.client.remember(chat.who, chat.name, chat.description, [chat.image])
            if result.status == "candidates" and result.pending_id:
                result = await self.client.choose(chat.who, result.pending_id, 1)
            if result.status != "stored":
                raise RuntimeError(f"remember for {chat.who.user_id} ended as {result.status!r}")

        # The first one alone: it pays the GPU worker's cold start.
        start = time.perf_counter()
        await self.guarded(one(self.chats[0]))
        self.out(
            f"first remember (includes the GPU worker's start and model load): {time.perf_counter() - start:.1f} s"
        )
        for begin in range(1, len(self.chats), 16):
            await self.guarded(asyncio.gather(*(one(c) for c in self.chats[begin : begin + 16])))

    async def warm_up(self, mode: str, cold: bool) -> None:
        """The first answer of a fresh worker (cold start) and one round at the largest level, so the
        batch shapes (kernel selection on a GPU) are warm before anything is measured."""
        if cold:
            start = time.perf_counter()
            await self.guarded(self.timed_call("answer", who=self.chats[0].who, image=self.chats[0].image, text="hi"))
            self.out(f"[{mode}] first answer of the fresh GPU worker (cold start): {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        for _ in range(self.args.warmup_rounds):
            await self.guarded(
                asyncio.gather(
                    *(self.timed_call("answer", who=c.who, image=c.photo, text=c.question) for c in self.chats)
                )
            )
        self.out(
            f"[{mode}] warm-up: {self.args.warmup_rounds} round(s) of {len(self.chats)} concurrent answers "
            f"in {time.perf_counter() - start:.1f} s (not measured)"
        )

    async def level(self, mode: str, chats: int) -> LevelResult:
        args = self.args
        latencies: list[float] = []
        timings: list[Timing] = []
        store_latencies: list[float] = []
        errors = 0
        stop = asyncio.Event()
        before = await asyncio.to_thread(engine_totals, self.redis_url)
        t0 = time.perf_counter()
        deadline = t0 + args.seconds

        async def chat_loop(chat: Chat) -> None:
            nonlocal errors
            sent = 0
            while True:
                if args.requests_per_chat:
                    if sent >= args.requests_per_chat:
                        return
                elif time.perf_counter() >= deadline:
                    return
                sent += 1
                try:
                    _, timing, total = await self.timed_call(
                        "answer", who=chat.who, image=chat.photo, text=chat.question
                    )
                except Exception as error:  # counted and reported; the load goes on
                    errors += 1
                    if errors <= 3:
                        self.out(f"  answer failed: {type(error).__name__}: {error}")
                    continue
                latencies.append(total)
                timings.append(timing)

        async def probe() -> None:
            who = self.chats[0].who
            failures = 0
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    await self.timed_call("list_concepts", who=who, offset=0, limit=20)
                    store_latencies.append(time.perf_counter() - start)
                except Exception as error:
                    failures += 1
                    if failures <= 3:
                        self.out(f"  store probe failed: {type(error).__name__}: {error}")
                await asyncio.sleep(max(0.0, PROBE_INTERVAL_S - (time.perf_counter() - start)))

        probe_task = asyncio.create_task(probe())
        try:
            await self.guarded(asyncio.gather(*(chat_loop(c) for c in self.chats[:chats])))
        finally:
            stop.set()
            await probe_task
        elapsed = time.perf_counter() - t0
        # The worker writes its statistics after each task, just after the reply: let it finish.
        await asyncio.sleep(0.3)
        after = await asyncio.to_thread(engine_totals, self.redis_url)
        # Closed loop: every chat keeps one request in flight until the deadline, then the last ones
        # drain. Completed answers over the whole span, so a level whose latency exceeds the window
        # still counts every answer it served.
        answers_per_s = len(latencies) / elapsed if elapsed > 0 else 0.0
        return LevelResult(
            mode=mode,
            chats=chats,
            answers=len(latencies),
            elapsed_s=elapsed,
            answers_per_s=answers_per_s,
            latencies=latencies,
            timings=timings,
            store_latencies=store_latencies,
            generate=engine_delta(before, after, "generate"),
            engine={stage: engine_delta(before, after, stage) for stage in (*BATCHED, "vision")},
            errors=errors,
        )


# ---- output -------------------------------------------------------------------------------------

HEADER = (
    f"{'chats':>5} {'answers':>7} {'ans/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'store p99':>9} {'gen batch':>9} "
    f"{'det batch':>9} {'vis img/ans':>11} {'tok/ans':>7} {'gen tok/s':>9} {'errors':>6}"
)


def row(result: LevelResult) -> str:
    return (
        f"{result.chats:>5} {result.answers:>7} {result.answers_per_s:>7.2f} "
        f"{fmt(percentile(result.latencies, 50) * 1e3, 0):>8} {fmt(percentile(result.latencies, 99) * 1e3, 0):>8} "
        f"{fmt(percentile(result.store_latencies, 99) * 1e3):>9} {fmt(result.mean_gen_batch, 2):>9} "
        f"{fmt(result.mean_batch('detect'), 2):>9} {fmt(result.vision_images_per_answer, 2):>11} "
        f"{fmt(result.tokens_per_answer):>7} {fmt(result.gen_tokens_per_s):>9} {result.errors:>6}"
    )


def stage_table(out: Output, chats: int, batched: LevelResult, single: LevelResult) -> None:
    """Where an answer's time goes at `chats` chats, batched vs one at a time: mean ms per request
    in each stage (a batcher's queue wait included) and, for the batched stages, the mean batch."""
    out()
    out(f"time per stage at {chats} chat(s), mean ms per answer (batched / one at a time), mean batch batched:")
    out(f"{'stage':>9} {'batched':>9} {'one':>9} {'mean batch':>10}")
    for stage in STAGES:
        mean_batch = fmt(batched.mean_batch(stage), 2) if stage in BATCHED else ""
        out(f"{stage:>9} {fmt(batched.stage_ms(stage)):>9} {fmt(single.stage_ms(stage)):>9} {mean_batch:>10}")
    total = [sum(r.stage_ms(s) or 0.0 for s in STAGES) for r in (batched, single)]
    out(f"{'sum':>9} {total[0]:>9.1f} {total[1]:>9.1f}")
    out(
        f"vision tower per answer (batched): {fmt(batched.vision_images_per_answer, 2)} images in "
        f"{fmt(batched.vision_calls_per_answer, 2)} calls; one at a time: "
        f"{fmt(single.vision_images_per_answer, 2)} images"
    )


def print_table(out: Output, title: str, results: list[LevelResult]) -> None:
    out()
    out(title)
    out(HEADER)
    for result in results:
        out(row(result))


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0 or a != a or b != b:
        return None
    return a / b


# ---- main ---------------------------------------------------------------------------------------


def worker_env(args: argparse.Namespace, redis_url: str, database_url: str) -> dict[str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        PYTHONUNBUFFERED="1",
        RAPBOT_REDIS_URL=redis_url,
        RAPBOT_DATABASE_URL=database_url,
        RAPBOT_PROFILE=args.profile,
        RAPBOT_ENGINE=args.engine,
        RAPBOT_REPLY_MAX_NEW_TOKENS=str(args.max_new_tokens),
        # The product's decoding (temperature 0.2, seeded per request): each request's sampled
        # answer, and so its token count, is the same batched or alone (per-row generators).
        RAPBOT_TEMPERATURE=str(args.temperature),
        RAPBOT_CLIENT_TIMEOUT_S=str(args.client_timeout),
    )
    if args.device:
        env["RAPBOT_DEVICE"] = args.device
    if args.vllm_url:
        env["RAPBOT_VLLM_URL"] = args.vllm_url
    if args.vllm_model:
        env["RAPBOT_VLLM_MODEL"] = args.vllm_model
    if args.batch_wait_ms is not None:
        env["RAPBOT_BATCH_WAIT_MS"] = str(args.batch_wait_ms)
    return env


def gpu_worker_args(args: argparse.Namespace, max_batch: int, roles: bool) -> list[str]:
    if not roles:  # a worker without --role (before batched serving): serve the pipeline queue alone
        return ["--queues", "rapbot.gpu", "--concurrency", "1", "--loglevel", args.loglevel]
    command = ["--role", "gpu", "--concurrency", str(args.worker_concurrency), "--max-batch", str(max_batch)]
    if args.batch_wait_ms is not None:
        command += ["--batch-wait-ms", str(args.batch_wait_ms)]
    return [*command, "--loglevel", args.loglevel]


async def run(args: argparse.Namespace, services: Services, out: Output) -> None:
    from worker.schemas import Requester
    from worker.settings import WorkerSettings
    from worker.transport.celery_client import CeleryClient

    roles = worker_supports_roles()
    if not roles:
        out("WARNING: `rapbot worker` has no --role yet: one unbatched worker per queue (no --max-batch).")
    if args.redis:
        redis_url = args.redis
        out(f"redis: {redis_url} (given; engine statistics of other workers there would be mixed in)")
    else:
        redis_server = args.redis_server or shutil.which("redis-server")
        if not redis_server:
            raise SystemExit(
                "No redis-server found: install one (apt-get install redis-server) or pass --redis-server."
            )
        redis_url = services.start_redis(redis_server)
        out(f"redis: private redis-server at {redis_url}")
    database_url = services.start_postgres()
    out("postgres: embedded (pgserver), migrated")
    env = worker_env(args, redis_url, database_url)
    pipeline_queue = env.get("RAPBOT_PIPELINE_QUEUE", "rapbot.gpu")
    store_queue = env.get("RAPBOT_STORE_QUEUE", "rapbot.store")

    bench = Bench(args, services, out)
    bench.redis_url = redis_url
    settings = WorkerSettings(
        redis_url=redis_url,
        pipeline_queue=pipeline_queue,
        store_queue=store_queue,
        client_timeout_s=args.client_timeout,
    )
    bench.client = CeleryClient(settings)
    largest = max(args.levels)
    images = {p[0]: photo_bytes(p[0]) for p in PHOTOS}
    for index in range(largest):
        source, name, description = PHOTOS[index % len(PHOTOS)]
        who = Requester(platform="console", user_id=f"chat{index}")
        bench.chats.append(Chat(who, name, description, images[source], text_only=args.text_only))

    store_args = ["--role", "store"] if roles else ["--queues", store_queue, "--concurrency", "1"]
    services.start_worker("store-worker", [*store_args, "--loglevel", args.loglevel], env)
    modes = [(f"max-batch {args.max_batch}", args.max_batch), ("max-batch 1", 1)]
    results: dict[str, list[LevelResult]] = {}
    try:
        for number, (mode, max_batch) in enumerate(modes):
            clear_engine_stats(redis_url)
            out()
            out(f"== {mode}: starting the GPU worker ({' '.join(gpu_worker_args(args, max_batch, roles))})")
            services.start_worker("gpu-worker", gpu_worker_args(args, max_batch, roles), env)
            bench.watch = ["gpu-worker", "store-worker"]
            await bench.worker_up(env.get("RAPBOT_PIPELINE_QUEUE", "rapbot.gpu"))
            if number == 0:
                await bench.remember_all()
            await bench.warm_up(mode, cold=number > 0)
            results[mode] = []
            for chats in args.levels:
                result = await bench.level(mode, chats)
                results[mode].append(result)
                if len(results[mode]) == 1:
                    out(f"[{mode}] {HEADER}")
                out(f"[{mode}] {row(result)}")
            services.stop("gpu-worker")
    finally:
        await bench.client.close()
    if args.smoke and any(result.errors for found in results.values() for result in found):
        raise WorkerDied("requests failed in the smoke run (see the errors column above)")

    out()
    out(
        f"profile {args.profile}, engine {args.engine}, device {args.device or 'auto'}, "
        f"{'text-only questions' if args.text_only else 'photo + question'}, "
        f"max new tokens {args.max_new_tokens}, "
        f"{'greedy' if args.temperature <= 0 else f'temperature {args.temperature} (seeded per request)'}; "
        f"GPU worker concurrency {args.worker_concurrency}; "
        + (
            f"{args.requests_per_chat} requests per chat"
            if args.requests_per_chat
            else f"{args.seconds:.0f} s per level"
        )
    )
    out("ans/s: answers completed per second (each chat sends until the deadline, then its last answer drains)")
    out("p50/p99: end-to-end ms at the client; store p99: ms of list_concepts sent every ~50 ms meanwhile")
    out("gen batch / det batch: mean generation / detection batch (engine statistics); vis img/ans: images")
    out("through the generator's vision tower per answer (1 for a photo answer when the concept photos are cached);")
    out("tok/ans: generated tokens per answer; gen tok/s: generation-stage tokens per busy second of the generator")
    for mode, _ in modes:
        print_table(out, f"-- {mode}", results[mode])

    by_mode = [{r.chats: r for r in results[mode]} for mode, _ in modes]
    for chats in sorted({min(args.levels), 16 if 16 in args.levels else largest}):
        stage_table(out, chats, by_mode[0][chats], by_mode[1][chats])
    out()
    for chats in args.levels:
        batched, single = by_mode[0][chats], by_mode[1][chats]
        answers = ratio(batched.answers_per_s, single.answers_per_s)
        tokens = ratio(batched.gen_tokens_per_s, single.gen_tokens_per_s)
        out(
            f"{chats:>3} chats: answers/s {batched.answers_per_s:.2f} vs {single.answers_per_s:.2f} "
            f"({fmt(answers, 2)}x), generation tokens/s {fmt(batched.gen_tokens_per_s)} vs "
            f"{fmt(single.gen_tokens_per_s)} ({fmt(tokens, 2)}x), store p99 "
            f"{fmt(percentile(batched.store_latencies, 99) * 1e3)} / "
            f"{fmt(percentile(single.store_latencies, 99) * 1e3)} ms"
        )
    target = 16 if 16 in args.levels else largest
    if target != 16:
        out(f"16 chats is not among the levels: the speedup below is at {target} chats, the largest level.")
    lone = min(args.levels)
    alone = ratio(by_mode[0][lone].answers_per_s, by_mode[1][lone].answers_per_s)
    vision = [by_mode[i][target].vision_images_per_answer for i in (0, 1)]
    out(
        f"a lone user at {lone} chat(s): batched is {fmt(alone, 2)}x the answers/s of one at a time; vision-tower "
        f"images per answer at {target} chats: {fmt(vision[0], 2)} batched, {fmt(vision[1], 2)} one at a time"
    )
    batched, single = by_mode[0][target], by_mode[1][target]
    answers = ratio(batched.answers_per_s, single.answers_per_s)
    tokens = ratio(batched.gen_tokens_per_s, single.gen_tokens_per_s)
    out(
        f"batching speedup at {target} chats: {fmt(answers, 2)}x answers/s, generation stage {fmt(tokens, 2)}x tokens/s"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default=None, help="comma-separated numbers of chats (default 1,4,16,32)")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per level (default 15)")
    parser.add_argument("--requests-per-chat", type=int, default=0, help="instead of --seconds: answers per chat")
    parser.add_argument("--quick", action="store_true", help="a short run: levels 1,4,16 and 6 s per level")
    parser.add_argument(
        "--smoke", action="store_true", help="CI size: 1 chat, 2 answers of 4 tokens per mode; fails on any error"
    )
    parser.add_argument("--profile", default="tiny", choices=["tiny", "cpu", "gpu"])
    parser.add_argument("--device", default=None, help="RAPBOT_DEVICE for the workers (auto, cpu, cuda)")
    parser.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    parser.add_argument("--vllm-url", default=None, help="the vllm serve URL (with --engine vllm)")
    parser.add_argument("--vllm-model", default=None, help="RAPBOT_VLLM_MODEL: the model name vllm serves")
    parser.add_argument("--max-batch", type=int, default=16, help="the batched mode's --max-batch")
    parser.add_argument("--batch-wait-ms", type=float, default=None, help="the GPU worker's --batch-wait-ms")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=None,
        help="GPU worker threads (default: max(max-batch, largest level))",
    )
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.2, help="RAPBOT_TEMPERATURE (0: greedy)")
    parser.add_argument(
        "--text-only",
        action="store_true",
        help="ask 'what does <name> like?' without a photo: generation alone (the concept's photo in the prompt)",
    )
    parser.add_argument("--warmup-rounds", type=int, default=1)
    parser.add_argument("--client-timeout", type=float, default=600.0, help="seconds a request may wait")
    parser.add_argument("--redis-server", default=None, help="redis-server binary (default: from PATH)")
    parser.add_argument("--redis", default=None, help="use this loopback Redis instead of a private redis-server")
    parser.add_argument("--loglevel", default="WARNING", help="the workers' log level (logs go to files)")
    parser.add_argument("--output", type=Path, default=None, help="also append every printed line to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.levels, args.requests_per_chat, args.max_batch, args.max_new_tokens = "1", 2, 2, 4

    levels = args.levels or ("1,4,16" if args.quick else "1,4,16,32")
    try:
        args.levels = sorted({int(part) for part in levels.split(",") if part.strip()})
    except ValueError:
        parser.error(f"--levels must be comma-separated integers, not {levels!r}")
    if not args.levels or min(args.levels) < 1 or max(args.levels) > MAX_CHATS:
        parser.error(f"--levels must be between 1 and {MAX_CHATS} chats")
    if args.seconds is None:
        args.seconds = 6.0 if args.quick else 15.0
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:.0f}]")
    if not 0 <= args.requests_per_chat <= MAX_REQUESTS_PER_CHAT:
        parser.error(f"--requests-per-chat must be in [0, {MAX_REQUESTS_PER_CHAT}]")
    if args.max_batch < 1 or args.max_new_tokens < 1:
        parser.error("--max-batch and --max-new-tokens must be at least 1")
    if args.worker_concurrency is None:
        args.worker_concurrency = max(args.max_batch, max(args.levels))
    if args.engine == "vllm" and not args.vllm_url:
        parser.error("--engine vllm needs --vllm-url")
    for url in (args.redis, args.vllm_url):
        if url and urlparse(url).hostname not in LOOPBACK:
            parser.error(f"{url}: only loopback addresses (127.0.0.1, localhost, ::1)")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    out = Output(args.output)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)  # `timeout` sends SIGTERM: clean up as on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix="rapbot-load-"))
    services = Services(workdir)
    failed = False
    try:
        asyncio.run(run(args, services, out))
    except WorkerDied as error:
        failed = True
        out(f"FAILED: {error}")
    except BaseException:
        failed = True
        for name in ("gpu-worker", "store-worker"):
            if name in services.logs:
                print(f"--- last lines of the {name} log ({services.logs[name]}):\n{services.log_tail(name)}")
        raise
    finally:
        services.stop_all()
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"worker logs kept in {workdir}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
