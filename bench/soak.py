"""Soak test: N mixed requests (default 10,000) through the REAL Celery path, set up exactly as
bench/load.py sets it up (a private redis-server on a free loopback port, an embedded Postgres +
pgvector, `rapbot worker --role gpu` and `rapbot worker --role store` subprocesses; its helpers are
imported from load.py), from several concurrent chats, to show that memory and latency stay flat.

Each chat is its own user with one concept remembered at the start (not measured), then repeats a
cycle of 20 requests, staggered so the chats are at different points of it:

    remember a temporary concept (1)   add a photo to it (1)   forget it (1)
    answer about a photo (7)           text-only answer (4)    list (3)   show (3)

so 13 of 20 requests run the networks (GPU worker) and 7 only the store (store worker), and the
memory holds the same amount of data throughout (each temporary concept is forgotten again).

Every `--block` requests (1,000) it prints the latency p50/p99 of that block (end to end at the
client, every kind of request together) and the RSS of every process it started: the GPU worker,
the store worker (and any child of theirs), redis-server, and every Postgres process (postmaster,
background processes, one backend per connection), plus its own client process for reference. At
the end: the RSS growth from the 2nd to the last block per process and the p50 drift, against the
targets (RSS growth < 5 %, p50 drift < 10 %); the 1st block is the warm-up, so a verdict needs at
least 3 blocks. RSS comes from psutil when installed, else /proc/<pid>/status (VmRSS); "anon" is
the process's private anonymous memory (RssAnon), which leaves out shared memory and mapped files:
a Postgres process's RSS grows as it touches more of the shared buffers, which is no leak. Redis
keeps each photo and finished reply for `--redis-ttl` seconds (60; the product keeps them an hour,
which in a shorter run would read as growth), so it reaches its steady state within the 1st block;
its used_memory and number of keys are printed too. Exit status: 0, or 2 when it ran to the end
and missed a target, 1 when it failed.

Usage (tiny profile, CPU; settings such as RAPBOT_MODEL_DIR / RAPBOT_GENERATOR pass through the
environment to the workers, as in load.py):

    .venv/bin/python bench/soak.py [--requests 10000] [--chats 8] [--block 1000] [--max-minutes 240]
        [--profile tiny] [--device auto|cpu|cuda] [--max-batch 16] [--max-new-tokens 32] [--output FILE]

A smoke run: `--requests 1000 --block 250`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

# load.py puts the repository root on sys.path and sets the offline environment (HF, YOLO) at import.
import load  # noqa: E402
from load import (  # noqa: E402
    PHOTOS,
    Bench,
    Chat,
    Output,
    Services,
    WorkerDied,
    fmt,
    gpu_worker_args,
    percentile,
    photo_bytes,
    worker_env,
    worker_supports_roles,
)

psutil: Any
try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in requirements.lock; /proc is the fallback
    psutil = None

# One chat's cycle; every chat repeats it from its own starting point.
CYCLE: tuple[str, ...] = (
    "remember",  # a temporary concept, from one photo
    "answer_photo",
    "list",
    "answer_text",
    "add_photo",  # a second photo of the temporary concept
    "answer_photo",
    "show",
    "answer_photo",
    "answer_text",
    "list",
    "answer_photo",
    "show",
    "answer_text",
    "answer_photo",
    "list",
    "answer_photo",
    "show",
    "answer_text",
    "answer_photo",
    "forget",  # the temporary concept
)
KINDS = ("remember", "add_photo", "answer_photo", "answer_text", "list", "show", "forget")
REMEMBER_AT, ADD_PHOTO_AT, FORGET_AT = CYCLE.index("remember"), CYCLE.index("add_photo"), CYCLE.index("forget")
RSS_TARGET_PCT = 5.0
P50_TARGET_PCT = 10.0
MAX_REQUESTS = 1_000_000
MAX_CHATS = load.MAX_CHATS
# Postgres background processes, by the title they give themselves ("postgres: checkpointer").
PG_BACKGROUND = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "io worker",
    "archiver",
    "stats collector",
    "walsummarizer",
)
MB = 1024 * 1024


# ---- memory of the processes --------------------------------------------------------------------


@dataclass(frozen=True)
class Mem:
    pid: int
    rss: int  # bytes
    anon: int | None  # bytes of RssAnon (Linux), None where unknown


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and RssAnon in bytes from /proc/<pid>/status ({} when the process is gone)."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    values[key] = int(rest.split()[0]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return {}
    return values


def _children(pid: int) -> list[int]:
    """Every descendant of pid."""
    if psutil is not None:
        try:
            return [child.pid for child in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _title(pid: int) -> str:
    """The process's command line (Postgres processes rewrite theirs: "postgres: checkpointer")."""
    try:
        if psutil is not None:
            return " ".join(psutil.Process(pid).cmdline()).strip()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except Exception:  # gone, or not ours to read
        return ""


def memory_of(pid: int) -> Mem | None:
    status = _proc_status(pid)
    if psutil is not None:
        try:
            rss = int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return None
    elif "VmRSS" in status:
        rss = status["VmRSS"]
    else:
        return None
    return Mem(pid=pid, rss=rss, anon=status.get("RssAnon"))


def postgres_label(pid: int, postmaster: int) -> str:
    if pid == postmaster:
        return "postgres postmaster"
    title = _title(pid)
    rest = title.split("postgres:", 1)[1].strip() if "postgres:" in title else title
    for name in PG_BACKGROUND:
        if rest.startswith(name):
            return f"postgres {name}"
    if rest.startswith("autovacuum worker"):
        return f"postgres autovacuum worker {pid}"  # comes and goes
    return f"postgres backend {pid}"  # one per connection: "<user> <db> [local] idle"


class Processes:
    """Finds every process this run started (and their children) and reads their memory."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def snapshot(self) -> dict[str, Mem]:
        found: dict[str, Mem] = {}

        def add(label: str, pid: int) -> None:
            mem = memory_of(pid)
            if mem is not None:
                found[label] = mem

        for name in ("gpu-worker", "store-worker", "redis"):
            proc = self.services.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            add("redis-server" if name == "redis" else name, proc.pid)
            for child in _children(proc.pid):
                add(f"{name} child {child}", child)
        if self.services.pg is not None:
            postmaster = self.services.pg[0].get_pid()
            if postmaster:
                for pid in [postmaster, *_children(postmaster)]:
                    add(postgres_label(pid, postmaster), pid)
        add("soak client (this process)", os.getpid())
        return found


# ---- the workload ---------------------------------------------------------------------------------


@dataclass
class SoakChat:
    chat: Chat  # load.Chat: who, the base concept's name, description and photo
    index: int
    position: int  # where in CYCLE this chat is
    photos: list[bytes]  # the other photos: temporary concepts, captions
    tmp_name: str | None = None
    serial: int = 0  # the temporary concept's number
    turn: int = 0  # varies the answers and shows

    @property
    def next_tmp(self) -> str:
        return f"tmp{self.serial}"

    def photo(self, offset: int) -> bytes:
        return self.photos[(self.index + self.serial + offset) % len(self.photos)]


@dataclass
class Done:
    kind: str
    seconds: float
    error: str | None  # RapError code or exception type


@dataclass
class Block:
    number: int
    requests: int
    elapsed_s: float
    latencies: list[float]
    by_kind: dict[str, list[float]]
    errors: dict[str, int]
    memory: dict[str, Mem]
    redis: tuple[int, int] | None  # Redis's used_memory (bytes) and number of keys
    load_1min: float | None  # the machine's load average when the block ended
    partial: bool = False

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)


@dataclass
class Soak:
    args: argparse.Namespace
    bench: Bench  # load.Bench: the client, guarded(), remember_all()
    processes: Processes
    out: Output
    chats: list[SoakChat] = field(default_factory=list)
    done: list[Done] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    issued: int = 0
    chooses: int = 0
    redis_url: str = ""
    stopped_early: str = ""
    block_started: float = 0.0
    deadline: float = 0.0

    # -- requests --

    async def remember_tmp(self, state: SoakChat) -> None:
        client, who = self.bench.client, state.chat.who
        name = state.next_tmp
        result = await client.remember(who, name, "a photo I want to keep for a while", [state.photo(1)])
        if result.status == "candidates" and result.pending_id:
            self.chooses += 1
            result = await client.choose(who, result.pending_id, 1)
        if result.status != "stored":
            raise RuntimeError(f"remember ended as {result.status!r}")
        state.tmp_name = name

    async def request(self, state: SoakChat, kind: str) -> None:
        client, who, base = self.bench.client, state.chat.who, state.chat.name
        state.turn += 1
        match kind:
            case "remember":
                await self.remember_tmp(state)
            case "add_photo":
                await client.add_view(who, state.tmp_name or state.next_tmp, state.photo(2))
            case "answer_photo":
                # A question about the remembered concept's photo, or a caption of another photo.
                if state.turn % 3:
                    await client.answer(who, state.chat.image, state.chat.question)
                else:
                    await client.answer(who, state.photo(3), None)
            case "answer_text":
                name = state.tmp_name if state.tmp_name and state.turn % 2 else base
                await client.answer(who, None, f"what does <{name}> like?")
            case "list":
                await client.list_concepts(who, offset=0, limit=20)
            case "show":
                await client.show(who, state.tmp_name if state.tmp_name and state.turn % 2 else base)
            case "forget":
                await client.forget(who, state.tmp_name or state.next_tmp)
                state.tmp_name = None
                state.serial += 1
            case _:  # pragma: no cover
                raise ValueError(kind)

    async def setup(self) -> None:
        """Each chat's concept (load.Bench.remember_all), then the temporary concept of every chat
        that starts inside the remember..forget part of the cycle. Not measured."""
        await self.bench.remember_all()
        start = time.perf_counter()

        async def prepare(state: SoakChat) -> None:
            if REMEMBER_AT < state.position <= FORGET_AT:
                await self.remember_tmp(state)
                if state.position > ADD_PHOTO_AT:
                    await self.bench.client.add_view(state.chat.who, state.tmp_name, state.photo(2))

        await self.bench.guarded(asyncio.gather(*(prepare(s) for s in self.chats)))
        self.out(f"setup: {len(self.chats)} chats ready in {time.perf_counter() - start:.1f} s (not measured)")

    # -- the run --

    def take(self) -> bool:
        """One more request may be sent: the budget is not spent and the time bound not reached."""
        if self.issued >= self.args.requests:
            return False
        if time.monotonic() >= self.deadline:
            if not self.stopped_early:
                self.stopped_early = f"the time bound (--max-minutes {self.args.max_minutes:g}) was reached"
            return False
        self.issued += 1
        return True

    def record(self, item: Done) -> None:
        self.done.append(item)
        if len(self.done) % self.args.block == 0:
            self.close_block()

    def close_block(self, partial: bool = False) -> None:
        start = len(self.blocks) * self.args.block
        items = self.done[start:]
        if not items:
            return
        now = time.perf_counter()
        by_kind: dict[str, list[float]] = {}
        errors: dict[str, int] = {}
        latencies: list[float] = []
        for item in items:
            if item.error is None:
                latencies.append(item.seconds)
                by_kind.setdefault(item.kind, []).append(item.seconds)
            else:
                key = f"{item.kind}:{item.error}"
                errors[key] = errors.get(key, 0) + 1
        block = Block(
            number=len(self.blocks) + 1,
            requests=len(items),
            elapsed_s=now - self.block_started,
            latencies=latencies,
            by_kind=by_kind,
            errors=errors,
            memory=self.processes.snapshot(),
            redis=self.redis_stats(),
            load_1min=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            partial=partial,
        )
        self.block_started = now
        self.blocks.append(block)
        self.print_block(block, start)

    def quarters(self, full: list[Block], width: int) -> None:
        """Issue 22's figure: the workers' mean RSS in the first vs the last quarter of the measured
        blocks (the 1st block, the warm-up, left out), against 10 %."""
        measured = full[1:]
        for label in ("gpu-worker", "store-worker"):
            means = quarter_means(measured, label)
            if means is None:
                continue
            growth = pct(*means)
            self.out(
                f"{label:<{width}} first vs last quarter of blocks {measured[0].number}-{measured[-1].number}: "
                f"{means[0] / MB:.1f} -> {means[1] / MB:.1f} MB = {fmt(growth, 2)}% (within 10 %: "
                f"{'yes' if growth is not None and abs(growth) <= 10 else 'NO'})"
            )

    def redis_stats(self) -> tuple[int, int] | None:
        import redis

        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
            try:
                return int(client.info("memory")["used_memory"]), int(client.dbsize())
            finally:
                client.close()
        except redis.RedisError:
            return None

    def print_block(self, block: Block, start: int) -> None:
        errors = sum(block.errors.values())
        self.out(
            f"[block {block.number}{' (partial)' if block.partial else ''}] requests {start + 1}-"
            f"{start + block.requests}: {block.elapsed_s:.1f} s, {block.requests / block.elapsed_s:.2f} req/s, "
            f"p50 {fmt(block.p50 * 1e3, 0)} ms, p99 {fmt(block.p99 * 1e3, 0)} ms, errors {errors}"
            + (f" ({', '.join(f'{k} x{v}' for k, v in sorted(block.errors.items()))})" if errors else "")
        )
        kinds = "  ".join(
            f"{kind} {fmt(percentile(block.by_kind[kind], 50) * 1e3, 0)}" for kind in KINDS if kind in block.by_kind
        )
        self.out(f"    p50 ms by kind: {kinds}")
        parts = [f"{label} {mem.rss / MB:.1f}" for label, mem in block.memory.items()]
        self.out("    RSS MB: " + " | ".join(parts))
        if block.redis is not None:
            self.out(f"    redis: used_memory {block.redis[0] / MB:.1f} MB, {block.redis[1]} keys")

    async def run(self) -> None:
        async def chat_loop(state: SoakChat) -> None:
            while self.take():
                kind = CYCLE[state.position % len(CYCLE)]
                state.position += 1
                start = time.perf_counter()
                error: str | None = None
                try:
                    await self.request(state, kind)
                except Exception as exc:  # counted per kind and code; the soak goes on
                    error = str(getattr(exc, "code", "") or type(exc).__name__)
                    if sum(1 for d in self.done if d.error) < 5:
                        self.out(f"  {kind} failed for {state.chat.who.user_id}: {error}: {exc}")
                self.record(Done(kind, time.perf_counter() - start, error))

        self.deadline = time.monotonic() + self.args.max_minutes * 60
        self.block_started = time.perf_counter()
        await self.bench.guarded(asyncio.gather(*(chat_loop(s) for s in self.chats)))
        if len(self.done) % self.args.block:
            self.close_block(partial=True)

    # -- the summary --

    def summary(self) -> bool | None:
        """Prints the RSS table, the growth and drift against the targets; True when both are met,
        None when there are too few blocks for a verdict."""
        out, blocks = self.out, self.blocks
        out()
        out(
            f"profile {self.args.profile}, device {self.args.device or 'auto'}, {len(self.chats)} chats, "
            f"{len(self.done)} requests in blocks of {self.args.block}, max new tokens {self.args.max_new_tokens}, "
            f"GPU worker --max-batch {self.args.max_batch} --concurrency {self.args.worker_concurrency}, "
            f"Redis photo, reply and feedback TTL {self.args.redis_ttl} s; "
            f"memory from {'psutil' if psutil is not None else '/proc/<pid>/status'}"
        )
        if self.chooses:
            out(f"({self.chooses} remembers found several objects and chose the first: one request each)")
        if self.stopped_early:
            out(f"stopped early: {self.stopped_early}, after {len(self.done)} of {self.args.requests} requests")
        total_errors = sum(1 for d in self.done if d.error)
        out(f"errors: {total_errors} of {len(self.done)}")

        labels: list[str] = []
        for block in blocks:
            labels.extend(label for label in block.memory if label not in labels)
        out()
        out("RSS MB per block (" + ", ".join(f"{b.number}{'*' if b.partial else ''}" for b in blocks) + ")")
        width = max([len(label) for label in labels] + [10])
        out(f"{'process':<{width}} " + " ".join(f"{b.number:>8}" for b in blocks))
        for label in labels:
            cells = [f"{b.memory[label].rss / MB:8.1f}" if label in b.memory else f"{'-':>8}" for b in blocks]
            out(f"{label:<{width}} " + " ".join(cells))
        sums = [sum(m.rss for k, m in b.memory.items() if k.startswith("postgres")) for b in blocks]
        out(f"{'postgres (sum)':<{width}} " + " ".join(f"{s / MB:8.1f}" for s in sums))
        out(
            f"{'redis used_memory':<{width}} "
            + " ".join(f"{b.redis[0] / MB:8.1f}" if b.redis else f"{'-':>8}" for b in blocks)
        )
        out(f"{'redis keys':<{width}} " + " ".join(f"{b.redis[1]:>8}" if b.redis else f"{'-':>8}" for b in blocks))
        out(f"{'requests/s':<{width}} " + " ".join(f"{b.requests / b.elapsed_s:8.2f}" for b in blocks))
        out(f"{'load average (1 min)':<{width}} " + " ".join(f"{fmt(b.load_1min, 2):>8}" for b in blocks))
        out(f"{'p50 ms':<{width}} " + " ".join(f"{fmt(b.p50 * 1e3, 0):>8}" for b in blocks))
        out(f"{'p99 ms':<{width}} " + " ".join(f"{fmt(b.p99 * 1e3, 0):>8}" for b in blocks))

        full = [b for b in blocks if not b.partial]
        out()
        if len(full) < 3:
            out(
                f"No verdict: {len(full)} full block(s) of {self.args.block}; the growth and drift compare the "
                "2nd block with the last (the 1st is the warm-up), so at least 3 are needed "
                "(more --requests, or a smaller --block)."
            )
            return None
        first, last = full[1], full[-1]
        out(f"From block {first.number} to block {last.number} (the last full one):")
        ok = True
        out(f"{'process':<{width}} {'pid':>8} {'RSS MB':>9} {'->':^2} {'RSS MB':<9} {'growth':>8} {'anon':>8}  verdict")
        for label in labels:
            a, b = first.memory.get(label), last.memory.get(label)
            note = "(for reference: not a process it started)" if label.startswith("soak client") else ""
            if a is None or b is None or a.pid != b.pid:
                out(f"{label:<{width}} {'':>8} {'':>9}    {'':<9} {'n/a':>8} {'':>8}  not in both blocks")
                continue
            growth = pct(a.rss, b.rss)
            anon = pct(a.anon, b.anon) if a.anon and b.anon is not None else None
            # A Postgres process's RSS grows as it touches more of the shared buffers (no leak): its
            # private memory (anon) is what is judged.
            judged = anon if label.startswith("postgres") and anon is not None else growth
            if note:
                verdict = note
            else:
                passed = judged is not None and judged < RSS_TARGET_PCT
                ok &= passed
                verdict = "ok" if passed else f"OVER {RSS_TARGET_PCT:g} %"
            out(
                f"{label:<{width}} {b.pid:>8} {a.rss / MB:9.1f} -> {b.rss / MB:<9.1f} "
                f"{fmt(growth, 2):>7}% {fmt(anon, 2):>7}%  {verdict}"
            )
        self.quarters(full, width)
        pg_a = sum(m.rss for k, m in first.memory.items() if k.startswith("postgres"))
        pg_b = sum(m.rss for k, m in last.memory.items() if k.startswith("postgres"))
        out(
            f"{'postgres (sum)':<{width}} {'':>8} {pg_a / MB:9.1f} -> {pg_b / MB:<9.1f} {fmt(pct(pg_a, pg_b), 2):>7}%"
            f" {'':>8}  (for reference: shared buffers are counted once per process)"
        )
        drift = pct(first.p50, last.p50)
        p50_ok = drift is not None and drift < P50_TARGET_PCT
        out(
            f"p50 drift: {fmt(first.p50 * 1e3, 0)} -> {fmt(last.p50 * 1e3, 0)} ms = {fmt(drift, 2)}% "
            f"(target < {P50_TARGET_PCT:g} %): {'ok' if p50_ok else 'OVER'}"
        )
        kinds = "  ".join(
            f"{kind} {fmt(pct(percentile(first.by_kind[kind], 50), percentile(last.by_kind[kind], 50)), 1)}%"
            for kind in KINDS
            if kind in first.by_kind and kind in last.by_kind
        )
        out(f"    p50 drift by kind: {kinds}")
        out(
            f"targets (RSS growth < {RSS_TARGET_PCT:g} % for every process it started, p50 drift < "
            f"{P50_TARGET_PCT:g} %): {'MET' if ok and p50_ok else 'NOT MET'}"
        )
        return ok and p50_ok


def quarter_means(blocks: list[Block], label: str) -> tuple[float, float] | None:
    """Mean RSS of `label` over the first and the last quarter of these blocks (at least one each)."""
    values = [b.memory[label].rss for b in blocks if label in b.memory]
    if len(values) != len(blocks) or len({b.memory[label].pid for b in blocks}) != 1 or len(blocks) < 4:
        return None
    n = max(1, len(blocks) // 4)
    return sum(values[:n]) / n, sum(values[-n:]) / n


def pct(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0 or before != before or after != after:
        return None
    return (after - before) / before * 100


# ---- main -----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, services: Services, out: Output) -> bool | None:
    from worker.schemas import Requester
    from worker.settings import WorkerSettings
    from worker.transport.celery_client import CeleryClient

    roles = worker_supports_roles()
    if not roles:
        raise SystemExit("`rapbot worker` has no --role: this soak needs a GPU worker and a store worker.")
    redis_server = args.redis_server or shutil.which("redis-server")
    if not redis_server:
        raise SystemExit("No redis-server found: install one (apt-get install redis-server) or pass --redis-server.")
    redis_url = services.start_redis(redis_server)
    out(f"redis: private redis-server at {redis_url}")
    database_url = services.start_postgres()
    out("postgres: embedded (pgserver), migrated")
    env = worker_env(args, redis_url, database_url)
    # Photos and finished replies stay in Redis this long (the product keeps them an hour): short,
    # so that Redis reaches its steady state early and its RSS tells a leak from retention.
    # The crops kept for /yes and /no (an hour in the product) likewise: with the hour, Redis grows for
    # the whole of a shorter run by design (a 10,000-request run: 59 -> 163 MB, keys 1311 -> 2506).
    env["RAPBOT_IMAGE_TTL_S"] = env["RAPBOT_RESULT_EXPIRES_S"] = env["RAPBOT_FEEDBACK_TTL_S"] = str(args.redis_ttl)

    bench = Bench(args, services, out)
    bench.redis_url = redis_url
    bench.client = CeleryClient(
        WorkerSettings(
            redis_url=redis_url,
            pipeline_queue=env.get("RAPBOT_PIPELINE_QUEUE", "rapbot.gpu"),
            store_queue=env.get("RAPBOT_STORE_QUEUE", "rapbot.store"),
            client_timeout_s=args.client_timeout,
            image_ttl_s=args.redis_ttl,
            result_expires_s=args.redis_ttl,
        )
    )
    soak = Soak(args, bench, Processes(services), out, redis_url=redis_url)
    images = [photo_bytes(p[0]) for p in PHOTOS]
    for index in range(args.chats):
        _, name, description = PHOTOS[index % len(PHOTOS)]
        who = Requester(platform="console", user_id=f"soak{index}")
        chat = Chat(who, name, description, images[index % len(images)])
        bench.chats.append(chat)
        others = [image for i, image in enumerate(images) if i != index % len(images)]
        soak.chats.append(SoakChat(chat, index, position=index * len(CYCLE) // args.chats, photos=others))

    try:
        services.start_worker("store-worker", ["--role", "store", "--loglevel", args.loglevel], env)
        services.start_worker("gpu-worker", gpu_worker_args(args, args.max_batch, roles), env)
        bench.watch = ["gpu-worker", "store-worker"]
        out(f"workers: store, gpu ({' '.join(gpu_worker_args(args, args.max_batch, roles))})")
        for queue in (env.get("RAPBOT_STORE_QUEUE", "rapbot.store"), env.get("RAPBOT_PIPELINE_QUEUE", "rapbot.gpu")):
            await bench.worker_up(queue)
        await soak.setup()
        out(f"soak: {args.requests} requests from {args.chats} chats, RSS and latency every {args.block}")
        await soak.run()
    finally:
        await bench.client.close()
    verdict = soak.summary()
    if args.smoke and any(done.error for done in soak.done):
        raise WorkerDied("requests failed in the smoke run (see the errors line above)")
    return verdict


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="measured requests in all (default 10000)")
    parser.add_argument("--chats", type=int, default=8, help="concurrent chats, one request in flight each")
    parser.add_argument("--block", type=int, default=1000, help="requests per reported block (default 1000)")
    parser.add_argument(
        "--max-minutes", type=float, default=240.0, help="stop sending after this long and report (default 240)"
    )
    parser.add_argument("--profile", default="tiny", choices=["tiny", "cpu", "gpu"])
    parser.add_argument("--device", default=None, help="RAPBOT_DEVICE for the workers (auto, cpu, cuda)")
    parser.add_argument("--max-batch", type=int, default=16, help="the GPU worker's --max-batch")
    parser.add_argument("--batch-wait-ms", type=float, default=None, help="the GPU worker's --batch-wait-ms")
    parser.add_argument(
        "--worker-concurrency", type=int, default=None, help="GPU worker threads (default: max(max-batch, chats))"
    )
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.2, help="RAPBOT_TEMPERATURE (0: greedy)")
    parser.add_argument(
        "--redis-ttl",
        type=int,
        default=60,
        help="seconds photos and finished replies stay in Redis (RAPBOT_IMAGE_TTL_S, RAPBOT_RESULT_EXPIRES_S; "
        "the product's default is 3600): short, so Redis is in its steady state after the first block",
    )
    parser.add_argument("--client-timeout", type=float, default=300.0, help="seconds a request may wait")
    parser.add_argument("--redis-server", default=None, help="redis-server binary (default: from PATH)")
    parser.add_argument("--loglevel", default="WARNING", help="the workers' log level (logs go to files)")
    parser.add_argument("--output", type=Path, default=None, help="also append every printed line to this file")
    parser.add_argument(
        "--smoke", action="store_true", help="CI size: 12 requests from 2 chats; fails on an error, not on the targets"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.requests, args.chats, args.block, args.max_batch, args.max_new_tokens = 12, 2, 6, 2, 4
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be in [1, {MAX_REQUESTS}]")
    if not 1 <= args.chats <= MAX_CHATS:
        parser.error(f"--chats must be in [1, {MAX_CHATS}]")
    if args.redis_ttl < 60:
        parser.error("--redis-ttl must be at least 60 (the workers' minimum)")
    if args.block < 1:
        parser.error("--block must be at least 1")
    if not 0 < args.max_minutes <= 24 * 60:
        parser.error("--max-minutes must be in (0, 1440]")
    if args.max_batch < 1 or args.max_new_tokens < 1:
        parser.error("--max-batch and --max-new-tokens must be at least 1")
    if args.worker_concurrency is None:
        args.worker_concurrency = max(args.max_batch, args.chats)
    # What load.py's worker_env / gpu_worker_args / Bench read; the soak always uses the hf engine.
    args.engine, args.vllm_url, args.vllm_model, args.warmup_rounds = "hf", None, None, 0
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    out = Output(args.output)

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)  # `timeout` sends SIGTERM: clean up as on Ctrl-C
    workdir = Path(tempfile.mkdtemp(prefix="rapbot-soak-"))
    services = Services(workdir)
    failed = False
    met: bool | None = None
    try:
        met = asyncio.run(run(args, services, out))
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
        services.stop_all()  # every process it started: workers, redis-server, Postgres
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"worker logs kept in {workdir}")
    if failed:
        sys.exit(1)
    if met is False and not args.smoke:  # a dozen requests say nothing about growth or drift
        sys.exit(2)  # ran to the end, but a target was missed


if __name__ == "__main__":
    main()
