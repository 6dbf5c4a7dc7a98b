"""The Celery client says only what it knows: a failure before the request is published changed
nothing; a failure after it (Redis gone while waiting for the reply) may have left the change made,
so a write says how to check instead of "Nothing was changed". Real worker, real Redis and Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.console import ConsoleSession, make_requester
from bot.settings import ConsoleSettings
from memory.store import MemoryStore
from memory.types import Actor
from worker.domain.runtime import Runtime
from worker.errors import BACKEND_DOWN, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.celery_client import CeleryClient
from worker.transport.redis_pending import RedisPendingStore
from worker.transport.tasks import WorkerContext, use_context, worker_app

REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture(scope="module")
def run_settings() -> WorkerSettings:
    run = uuid.uuid4().hex[:8]
    return WorkerSettings(
        redis_url=REDIS_URL,
        pipeline_queue=f"test-{run}-gpu",
        store_queue=f"test-{run}-store",
        reply_max_new_tokens=16,
    )


@pytest.fixture(scope="module")
def worker_thread(run_settings: WorkerSettings) -> Iterator[None]:
    from celery.contrib.testing.worker import start_worker

    app = worker_app(run_settings)
    queues = [run_settings.pipeline_queue, run_settings.store_queue]
    with start_worker(app, pool="solo", perform_ping_check=False, queues=queues, shutdown_timeout=30):
        yield
    use_context(None)


@pytest.fixture
async def client(
    worker_thread: None, run_settings: WorkerSettings, store: MemoryStore, tiny_models: Any
) -> AsyncIterator[CeleryClient]:
    redis = Redis.from_url(REDIS_URL)
    runtime = Runtime(store, run_settings, RedisPendingStore(redis, run_settings.pending_ttl_s), tiny_models)
    use_context(WorkerContext(runtime=runtime, redis=redis, settings=run_settings))
    opened = CeleryClient(run_settings)
    yield opened
    await opened.close()
    redis.close()


def lose_redis_after_the_reply(client: CeleryClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """BLPOP takes the worker's reply, then the connection drops before the client reads it: as if
    Redis restarted while the client waited, after the worker had done the work."""
    original = AsyncRedis.blpop

    async def blpop(self: AsyncRedis, keys: Any, timeout: float | None = 0) -> Any:
        await original(self, keys, timeout=timeout)
        raise RedisConnectionError("Connection closed by server.")

    monkeypatch.setattr(AsyncRedis, "blpop", blpop)


async def test_redis_lost_after_publishing_a_write_says_how_to_check(
    client: CeleryClient, alice: Requester, photos: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        lose_redis_after_the_reply(client, patch)
        with pytest.raises(RapError) as remembering:
            await client.remember(alice, "desk", "my desk", [photos["coffee"], photos["cat"]])
        with pytest.raises(RapError) as listing:
            await client.list_concepts(alice)
    assert remembering.value.code == BACKEND_DOWN
    assert "Nothing was changed" not in remembering.value.message
    assert "could not confirm whether <desk> was saved: /show desk tells." in remembering.value.message
    assert "Nothing was changed" in listing.value.message, "a read changes nothing, published or not"
    # It was saved: the reply only never arrived.
    assert (await client.show(alice, "desk")).concept.view_count == 2


async def test_the_console_passes_the_uncertainty_on(
    client: CeleryClient, photos: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = ConsoleSession(client, make_requester("alice", None, False), tmp_path, ConsoleSettings())
    files = []
    for name in ("coffee", "cat"):
        files.append(tmp_path / f"{name}.jpg")
        files[-1].write_bytes(photos[name])
    assert (await session.handle_line(f"/remember desk: my desk @{files[0]} @{files[1]}")).startswith("remembered")
    with monkeypatch.context() as patch:
        lose_redis_after_the_reply(client, patch)
        reply = await session.handle_line("/edit desk: my tidy desk")
    assert "could not confirm whether the description of <desk> was changed: /show desk tells." in reply
    assert "my tidy desk" in await session.handle_line("/show desk")


async def test_a_request_that_could_not_be_published_changed_nothing(
    client: CeleryClient,
    store: MemoryStore,
    alice: Requester,
    photos: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise KombuOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(client, "_publish", refuse)
    with pytest.raises(RapError) as remembering:
        await client.remember(alice, "desk", "my desk", [photos["coffee"], photos["cat"]])
    assert remembering.value.code == BACKEND_DOWN and "Nothing was changed" in remembering.value.message
    assert store.list_concepts(store.scope("console", "user", "alice").id, Actor("alice")).total == 0
