"""The Celery path with real workers on the real Redis (127.0.0.1:6379, a dedicated db and queue
names unique to this run) and real Postgres: the same results as in-process, idempotent
redelivery, a worker killed mid-task, and Redis down."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from memory.store import MemoryStore
from memory.types import Actor
from worker.domain.runtime import Runtime
from worker.errors import BACKEND_DOWN, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.celery_client import CeleryClient
from worker.transport.local import LocalClient
from worker.transport.redis_pending import RedisPendingStore
from worker.transport.tasks import WorkerContext, use_context, worker_app
from worker.transport.wire import done_key, reply_key

REDIS_URL = "redis://127.0.0.1:6379/11"  # a db of its own, away from anything else on this Redis
ROOT = Path(__file__).resolve().parents[2]


def settings_for_run(**overrides: Any) -> WorkerSettings:
    run = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "pipeline_queue": f"test-{run}-gpu",
        "store_queue": f"test-{run}-store",
        "reply_max_new_tokens": 16,
    }
    values.update(overrides)
    return WorkerSettings(**values)


@pytest.fixture(scope="module")
def celery_settings() -> WorkerSettings:
    return settings_for_run()


@pytest.fixture(scope="module")
def threaded_worker(celery_settings: WorkerSettings) -> Iterator[None]:
    """A real Celery worker in a thread of this process, serving this run's queues."""
    from celery.contrib.testing.worker import start_worker

    app = worker_app(celery_settings)
    queues = [celery_settings.pipeline_queue, celery_settings.store_queue]
    with start_worker(app, pool="solo", perform_ping_check=False, queues=queues, shutdown_timeout=30):
        yield
    use_context(None)


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
async def celery_client(
    threaded_worker: None, celery_settings: WorkerSettings, store: MemoryStore, tiny_models: Any, redis: Redis
) -> AsyncIterator[CeleryClient]:
    runtime = Runtime(store, celery_settings, RedisPendingStore(redis, celery_settings.pending_ttl_s), tiny_models)
    use_context(WorkerContext(runtime=runtime, redis=redis, settings=celery_settings))
    client = CeleryClient(celery_settings)
    yield client
    await client.close()


@pytest.fixture
def second_store(pg_server: Any, migrated_template: str) -> Iterator[MemoryStore]:
    name = f"w{uuid.uuid4().hex[:10]}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {migrated_template};")
    memory = MemoryStore(pg_server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1))
    yield memory
    memory.close()


async def test_celery_gives_the_same_results_as_in_process(
    celery_client: CeleryClient,
    second_store: MemoryStore,
    tiny_models: Any,
    alice: Requester,
    photos: dict[str, bytes],
) -> None:
    local = LocalClient.for_store(second_store, tiny_models, WorkerSettings(reply_max_new_tokens=16))
    outcomes: list[list[Any]] = []
    for client in (local, celery_client):
        await client.update_settings(alice, similarity_threshold=0.0)
        asked = await client.remember(alice, "mochi", "my cat", [photos["cat"]])
        assert asked.pending_id
        stored = await client.choose(alice, asked.pending_id, 1)
        assert stored.concept is not None
        seen = await client.answer(alice, photos["cat"], "what is <mochi> doing?")
        told = await client.answer(alice, None, "what does mochi like?")
        shown = await client.show(alice, "mochi")
        outcomes.append(
            [
                [(c.box, c.label) for c in asked.candidates],
                asked.annotated_image,
                stored.concept.category,
                seen,
                told,
                shown.images,
                (await client.list_concepts(alice)).total,
            ]
        )
    assert outcomes[0] == outcomes[1]
    await local.close()


async def test_a_repeated_request_id_stores_once(
    celery_client: CeleryClient, redis: Redis, alice: Requester, photos: dict[str, bytes]
) -> None:
    album = [photos["coffee"], photos["astronaut"]]
    request_id = f"remember-{uuid.uuid4().hex}"
    first = await celery_client.remember(alice, "desk", "my desk", album, request_id=request_id)
    # As if the worker died after writing but before saving its reply: the task runs again.
    redis.delete(done_key(request_id))
    again = await celery_client.remember(alice, "desk", "my desk", album, request_id=request_id)
    assert again.concept == first.concept and again.status == "stored"
    # Asked a third time, the saved reply answers without running the task.
    assert await celery_client.remember(alice, "desk", "my desk", album, request_id=request_id) == again
    page = await celery_client.list_concepts(alice)
    assert page.total == 1 and page.items[0].view_count == 2
    assert redis.llen(reply_key(request_id)) == 0  # every reply was taken by its one caller


async def test_redis_down_is_a_clear_error_and_writes_nothing(
    store: MemoryStore, alice: Requester, photos: dict[str, bytes]
) -> None:
    client = CeleryClient(WorkerSettings(redis_url="redis://127.0.0.1:1/0"))  # nothing listens on port 1
    with pytest.raises(RapError) as remembering:
        await client.remember(alice, "mochi", "my cat", [photos["cat"]])
    with pytest.raises(RapError) as listing:
        await client.list_concepts(alice)
    for err in (remembering.value, listing.value):
        assert err.code == BACKEND_DOWN and "Nothing was changed" in err.message
    await client.close()
    scope = store.scope("console", "user", "alice")
    assert store.list_concepts(scope.id, Actor("alice")).total == 0


def start_subprocess_worker(
    settings: WorkerSettings,
    database_url: str,
    log: Path,
    pool: str = "threads",
    role: str = "all",
    redis_url: str = REDIS_URL,
    **extra_env: str,
) -> subprocess.Popen[bytes]:
    """`rapbot worker` in its own process (and process group), serving this run's queues."""
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        RAPBOT_REDIS_URL=redis_url,
        RAPBOT_DATABASE_URL=database_url,
        RAPBOT_PROFILE="tiny",  # the same seeded tiny models as this process builds
        RAPBOT_PIPELINE_QUEUE=settings.pipeline_queue,
        RAPBOT_STORE_QUEUE=settings.store_queue,
        RAPBOT_VISIBILITY_TIMEOUT_S=str(settings.visibility_timeout_s),
        RAPBOT_TASK_SOFT_TIME_LIMIT_S=str(settings.task_soft_time_limit_s),
        RAPBOT_TASK_TIME_LIMIT_S=str(settings.task_time_limit_s),
        RAPBOT_CLIENT_TIMEOUT_S=str(settings.client_timeout_s),
        RAPBOT_MAX_DELIVERIES=str(settings.max_deliveries),
        RAPBOT_REPLY_MAX_NEW_TOKENS="16",
        **extra_env,
    )
    command = [sys.executable, "-m", "rapbot", "worker", "--role", role, "--pool", pool, "--loglevel", "WARNING"]
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


async def wait_for_worker(settings: WorkerSettings, queue: str, log: Path, seconds: float = 180) -> None:
    """Until a worker serving `queue` has announced itself (its heartbeat), as a client would see it."""
    from worker.transport.presence import presence_key

    assert settings.redis_url
    redis = Redis.from_url(settings.redis_url)
    deadline = time.monotonic() + seconds
    try:
        while not redis.zcard(presence_key(queue)):
            assert time.monotonic() < deadline, log.read_text()[-3000:] if log.exists() else "no worker log"
            await asyncio.sleep(0.1)
    finally:
        redis.close()


def other_connections(store: MemoryStore) -> int:
    """Connections to this test's database other than this process's own."""
    with store.engine.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        return int(connection.exec_driver_sql(query).scalar_one())


def pool_processes(worker: subprocess.Popen[bytes]) -> list[int]:
    """The prefork pool's processes: the children of the worker's main process."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return [int(pid) for pid in children]


async def test_a_worker_process_killed_mid_task_is_replaced_and_the_request_answered_once(
    database_url: str, store: MemoryStore, redis: Redis, alice: Requester, photos: dict[str, bytes], tmp_path: Path
) -> None:
    # Limits long enough for the first task to load the models on a busy CI machine.
    settings = settings_for_run(visibility_timeout_s=200, task_soft_time_limit_s=180, task_time_limit_s=190)
    client = CeleryClient(settings)
    log = tmp_path / "worker.log"
    request_id = f"kill-{uuid.uuid4().hex}"
    baseline = other_connections(store)
    worker = start_subprocess_worker(settings, database_url, log, pool="prefork", role="gpu")
    try:
        await wait_for_worker(settings, settings.pipeline_queue, log)
        request = asyncio.create_task(
            client.remember(alice, "desk", "my desk", [photos["coffee"], photos["cat"]], request_id=request_id)
        )
        # Kill once the task is running: it has opened the memory store (a new connection to this
        # database; a worker process opens it lazily, on its first task) and is loading the models.
        deadline = time.monotonic() + 120
        while other_connections(store) == baseline:
            assert time.monotonic() < deadline, log.read_text()
            assert not request.done()
            await asyncio.sleep(0.05)
        (running,) = pool_processes(worker)
        os.kill(running, signal.SIGKILL)
        # acks_late + reject_on_worker_lost: the message goes back to the queue and a fresh pool
        # process runs it again.
        result = await asyncio.wait_for(request, timeout=300)
        assert pool_processes(worker) != [running]
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        await client.close()

    assert result.status == "stored" and result.concept is not None and result.concept.view_count == 2
    scope = store.scope("console", "user", "alice")
    page = store.list_concepts(scope.id, Actor("alice"))
    assert [c.name for c in page.items] == ["desk"] and page.items[0].view_count == 2
    assert redis.llen(reply_key(request_id)) == 0  # one reply, taken by the client: none left over


async def test_postgres_down_is_a_clear_error(alice: Requester, tmp_path: Path) -> None:
    settings = settings_for_run()
    client = CeleryClient(settings)
    # Nothing listens on port 1: the worker cannot open the memory store.
    worker = start_subprocess_worker(settings, "postgresql+psycopg://rapbot@127.0.0.1:1/rapbot", tmp_path / "log")
    try:
        await wait_for_worker(settings, settings.store_queue, tmp_path / "log")
        with pytest.raises(RapError) as err:
            await client.list_concepts(alice)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        await client.close()
    assert err.value.code == BACKEND_DOWN, err.value.message
    assert "127.0.0.1" not in err.value.message and "Nothing was changed" in err.value.message
