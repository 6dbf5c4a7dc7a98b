"""Faults through the real Celery path, with a private redis-server and the embedded Postgres:
a whole worker killed (its request comes back to a fresh worker, answered once), a poison request
(dead-lettered after RAPBOT_MAX_DELIVERIES), no worker at all (a truthful timeout, and the request
never runs later), Redis restarted (workers and clients reconnect)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from test_celery import settings_for_run, start_subprocess_worker

from memory.store import MemoryStore
from memory.types import Actor
from worker.errors import BACKEND_DOWN, TIMEOUT, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.celery_client import CeleryClient
from worker.transport.presence import presence_key
from worker.transport.wire import deliveries_key

pytestmark = pytest.mark.faults


class PrivateRedis:
    """A redis-server of this test's own on a free loopback port, which the test can restart."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (scripts/test installs it)")
        self.binary = binary
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, cwd=self.directory, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if Redis.from_url(self.url, socket_connect_timeout=1).ping():
                    return
            except OSError:
                pass
            except Exception:  # redis.ConnectionError while it starts
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def client(self) -> Redis:
        return Redis.from_url(self.url)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


def fault_settings(redis: PrivateRedis, **overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "redis_url": redis.url,
        # A first request may wait for the networks to load (seconds on a busy CI machine).
        "visibility_timeout_s": 30,
        "task_soft_time_limit_s": 25,
        "task_time_limit_s": 28,
        "client_timeout_s": 150,
    }
    values.update(overrides)
    return settings_for_run(**values)


class Workers:
    """`rapbot worker` subprocesses the test starts, kills and restarts."""

    def __init__(self, settings: WorkerSettings, database_url: str, log: Path) -> None:
        self.settings = settings
        self.database_url = database_url
        self.log = log
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        assert self.settings.redis_url
        worker = start_subprocess_worker(
            self.settings, self.database_url, self.log, role="all", redis_url=self.settings.redis_url, **extra_env
        )
        self.running.append(worker)
        return worker

    async def start_and_wait(self, **extra_env: str) -> None:
        """Start a worker and wait until it has announced itself (its heartbeat), as a client sees it."""
        assert self.settings.redis_url
        redis = Redis.from_url(self.settings.redis_url)
        key = presence_key(self.settings.pipeline_queue)
        before = {member for member in redis.zrange(key, 0, -1)}
        self.start(**extra_env)
        await until(lambda: bool(set(redis.zrange(key, 0, -1)) - before), "the worker's heartbeat", self.log)
        redis.close()

    def kill_all(self) -> None:
        """kill -9 of every worker's whole process group, as when its machine or container dies."""
        for worker in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        self.running.clear()


@pytest.fixture
def workers_for(database_url: str, tmp_path: Path) -> Iterator[Any]:
    made: list[Workers] = []

    def make(settings: WorkerSettings) -> Workers:
        made.append(Workers(settings, database_url, tmp_path / "workers.log"))
        return made[-1]

    yield make
    for workers in made:
        workers.kill_all()


@pytest.fixture
async def client_for() -> AsyncIterator[Any]:
    made: list[CeleryClient] = []

    def make(settings: WorkerSettings) -> CeleryClient:
        made.append(CeleryClient(settings))
        return made[-1]

    yield make
    for client in made:
        await client.close()


async def until(condition: Any, what: str, log: Path | None = None, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}\n" + (
            log.read_text()[-3000:] if log and log.exists() else ""
        )
        await asyncio.sleep(0.1)


def deliveries(redis: Redis, request_id: str) -> int:
    return int(redis.get(deliveries_key(request_id)) or 0)


def role_pid(parent: subprocess.Popen[bytes], role: str) -> int | None:
    """The pid of the `--role <role>` child of a `rapbot worker` (--role all) process, if running."""
    children = subprocess.run(["pgrep", "-P", str(parent.pid)], capture_output=True, text=True).stdout.split()
    for pid in children:
        with contextlib.suppress(OSError):
            if f"--role\0{role}\0" in Path(f"/proc/{pid}/cmdline").read_text():
                return int(pid)
    return None


async def test_a_killed_workers_request_comes_back_to_a_fresh_worker_and_is_answered_once(
    private_redis: PrivateRedis,
    workers_for: Any,
    client_for: Any,
    store: MemoryStore,
    alice: Requester,
    photos: dict[str, bytes],
) -> None:
    # The restarted GPU worker loads its networks again before the redelivered request can run: the
    # soft limit 40 s (everything else derived from it: visibility 60 s, client 240 s) leaves room
    # for that on a busy machine.
    settings = settings_for_run(redis_url=private_redis.url, task_soft_time_limit_s=40)
    workers, client, redis = workers_for(settings), client_for(settings), private_redis.client()
    request_id = f"kill-{uuid.uuid4().hex}"
    await workers.start_and_wait()
    request = asyncio.create_task(client.remember(alice, "desk", "my desk", [photos["coffee"]], request_id=request_id))
    await until(lambda: deliveries(redis, request_id) == 1, "the first delivery", workers.log)
    gpu = role_pid(workers.running[-1], "gpu")
    assert gpu is not None
    os.kill(gpu, signal.SIGKILL)  # the GPU worker, mid-request (an OOM kill); `--role all` starts it again
    result = await asyncio.wait_for(request, timeout=150)  # the client waits: a worker is still there
    assert result.status in ("stored", "candidates")
    assert deliveries(redis, request_id) == 2
    scope = store.scope("console", "user", "alice")
    assert store.list_concepts(scope.id, Actor("alice")).total == (1 if result.status == "stored" else 0)


async def test_with_no_worker_the_user_is_told_at_once_and_the_request_never_runs_later(
    private_redis: PrivateRedis,
    workers_for: Any,
    client_for: Any,
    store: MemoryStore,
    alice: Requester,
    photos: dict[str, bytes],
) -> None:
    settings = fault_settings(private_redis)
    workers, client = workers_for(settings), client_for(settings)
    with pytest.raises(RapError) as err:  # well before the client timeout (150 s)
        await asyncio.wait_for(client.remember(alice, "ghost", "never here", [photos["coffee"]]), timeout=60)
    assert err.value.code == BACKEND_DOWN and "No bot worker is running" in err.value.message
    with pytest.raises(RapError) as listing:  # store requests too
        await asyncio.wait_for(client.list_concepts(alice), timeout=60)
    assert "No bot worker is running" in listing.value.message
    await workers.start_and_wait()  # a worker comes back after the user was told
    answer = await asyncio.wait_for(client.answer(alice, None, "hello?"), timeout=150)  # queued behind it
    assert answer.text is not None
    scope = store.scope("console", "user", "alice")
    assert store.list_concepts(scope.id, Actor("alice")).total == 0  # no ghost: the cancelled request never ran


async def test_a_request_whose_client_gave_up_is_dropped_not_run_later(
    private_redis: PrivateRedis,
    workers_for: Any,
    client_for: Any,
    store: MemoryStore,
    alice: Requester,
    photos: dict[str, bytes],
) -> None:
    # A worker seems alive (a heartbeat kept fresh) but never answers, so the client waits its whole
    # timeout (limits scaled down: soft 5 s, hard 6, visibility 8, one delivery: 35 s is enough).
    settings = fault_settings(
        private_redis,
        task_soft_time_limit_s=5,
        task_time_limit_s=6,
        visibility_timeout_s=8,
        max_deliveries=1,
        client_timeout_s=35,
    )
    workers, client, redis = workers_for(settings), client_for(settings), private_redis.client()

    async def seems_alive() -> None:
        while True:
            redis.zadd(presence_key(settings.pipeline_queue), {"hung:1": time.time()})
            await asyncio.sleep(1)

    beating = asyncio.create_task(seems_alive())
    try:
        with pytest.raises(RapError) as err:
            await client.remember(alice, "late", "too late", [photos["coffee"]])
    finally:
        beating.cancel()
    assert err.value.code == TIMEOUT
    redis.zrem(presence_key(settings.pipeline_queue), "hung:1")
    await workers.start_and_wait()
    deadline = time.monotonic() + 180
    while True:  # a 5 s deadline: the first answers may meet the networks still loading
        try:
            answer = await asyncio.wait_for(client.answer(alice, None, "hello?"), timeout=60)
            break
        except RapError as error:
            assert error.code == TIMEOUT and time.monotonic() < deadline, error.message
    assert answer.text is not None
    assert (
        store.list_concepts(store.scope("console", "user", "alice").id, Actor("alice")).total == 0
    )  # expired: dropped


async def test_workers_and_clients_reconnect_after_redis_restarts(
    private_redis: PrivateRedis,
    workers_for: Any,
    client_for: Any,
    alice: Requester,
) -> None:
    settings = fault_settings(private_redis)
    workers, client = workers_for(settings), client_for(settings)
    await workers.start_and_wait()
    assert (await asyncio.wait_for(client.list_concepts(alice), timeout=150)).total == 0
    private_redis.stop()
    private_redis.start()  # same port, empty: queues and replies in flight are gone
    deadline = time.monotonic() + 120
    while True:  # the worker reconnects by itself; the first tries may meet it still reconnecting
        try:
            page = await asyncio.wait_for(client.list_concepts(alice), timeout=30)
            break
        except (RapError, TimeoutError):
            assert time.monotonic() < deadline, workers.log.read_text()[-3000:]
            await asyncio.sleep(1)
    assert page.total == 0
    answer = await asyncio.wait_for(client.answer(alice, None, "hello?"), timeout=150)
    assert answer.text is not None


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()
    except OSError:
        return 0, ""


async def test_a_worker_serves_metrics_and_health_that_follow_its_requests(
    private_redis: PrivateRedis, workers_for: Any, client_for: Any, alice: Requester
) -> None:
    settings = fault_settings(private_redis)
    workers, client = workers_for(settings), client_for(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    await workers.start_and_wait(RAPBOT_METRICS_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    await until(lambda: _get(f"{base}/healthz")[0] == 200, "a healthy worker (Redis, Postgres, networks)", workers.log)
    assert (await asyncio.wait_for(client.answer(alice, None, "hello?"), timeout=150)).text is not None
    status, body = _get(f"{base}/metrics")
    assert status == 200
    assert re.search(r'rapbot_requests_total\{method="answer",outcome="ok"\} 1\.0', body), body[:2000]
    assert 'rapbot_stage_duration_seconds_count{method="answer",stage="generate"} 1.0' in body
    assert "rapbot_queue_depth" in body and "rapbot_model_load_seconds" in body
    # The store worker (a child of `rapbot worker`) serves the next port, and answers list requests.
    assert (await asyncio.wait_for(client.list_concepts(alice), timeout=60)).total == 0
    await until(lambda: "list_concepts" in _get(f"http://127.0.0.1:{port + 1}/metrics")[1], "store metrics")
    private_redis.stop()
    status, body = _get(f"{base}/healthz")
    assert status == 503 and "redis" in body and "127.0.0.1" not in body
