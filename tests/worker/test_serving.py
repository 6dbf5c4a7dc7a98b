"""Serving many chats from one worker: a GPU worker's thread pool feeds one batching engine, and
store requests are answered while every generation is stuck (a store worker loads no network)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from test_celery import REDIS_URL, settings_for_run, start_subprocess_worker, wait_for_worker

from memory.store import MemoryStore
from model.types import GenerationRequest, ModelBundle
from worker.domain.runtime import Runtime
from worker.schemas import Requester
from worker.transport.celery_client import CeleryClient
from worker.transport.redis_pending import RedisPendingStore
from worker.transport.tasks import WorkerContext, use_context, worker_app


class HeldGenerator:
    """The real tiny generator behind a gate: every batch waits until the test opens it."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator
        self.max_concepts = generator.max_concepts
        self.entered = threading.Event()
        self.gate = threading.Event()

    def generate_batch(self, requests: list[GenerationRequest]) -> Any:
        self.entered.set()
        assert self.gate.wait(120), "the test never opened the gate"
        return self._generator.generate_batch(requests)


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    client.close()


async def _until(condition: Any, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.02)


async def test_store_requests_are_answered_while_every_generation_is_stuck(
    store: MemoryStore,
    tiny_models: ModelBundle,
    redis: Redis,
    alice: Requester,
    bob: Requester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from celery.contrib.testing.worker import start_worker

    monkeypatch.setenv("RAPBOT_MAX_BATCH", "2")
    settings = settings_for_run(reply_max_new_tokens=8)
    held = HeldGenerator(tiny_models.generator)
    runtime = Runtime(store, settings, RedisPendingStore(redis, 60), replace(tiny_models, generator=held))
    use_context(WorkerContext(runtime=runtime, redis=redis, settings=settings))
    app = worker_app(settings)
    client = CeleryClient(settings)
    gpu = start_worker(
        app, pool="threads", concurrency=4, queues=[settings.pipeline_queue], perform_ping_check=False, hostname="gpu@t"
    )
    storage = start_worker(
        app, pool="solo", queues=[settings.store_queue], perform_ping_check=False, hostname="store@t"
    )
    try:
        with gpu, storage:
            questions = ["hello?", "how are you?", "what is this?", "who am I?"]
            answers = [
                asyncio.create_task(client.answer(who, None, q))
                for who, q in zip([alice, bob] * 2, questions, strict=True)
            ]
            await _until(held.entered.is_set, "the first generation")
            batcher = runtime.engine.generator.batcher if runtime.engine else None
            assert batcher is not None
            # Every GPU thread is now busy: one batch is stuck in the network, the rest wait for it.
            await _until(lambda: batcher.waiting >= 2, "the other requests to reach the engine")

            page = await asyncio.wait_for(client.list_concepts(alice), timeout=60)
            assert page.total == 0
            settings_reply = await asyncio.wait_for(client.get_settings(bob), timeout=60)
            assert settings_reply is not None
            assert not any(task.done() for task in answers)  # the store did not wait for them

            held.gate.set()
            done = await asyncio.wait_for(asyncio.gather(*answers), timeout=120)
            assert all(answer.text for answer in done)
            stats = runtime.engine_stats()
            assert stats is not None and stats["generate"]["requests"] == 4
            assert stats["generate"]["batches"] < 4  # the requests that waited shared a batch
    finally:
        held.gate.set()
        use_context(None)
        await client.close()
        runtime.engine and runtime.engine.close()


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


async def test_a_store_worker_answers_alone_and_never_loads_a_network(
    database_url: str, alice: Requester, tmp_path: Path
) -> None:
    settings = settings_for_run()
    client = CeleryClient(settings)
    log = tmp_path / "store.log"
    worker = start_subprocess_worker(settings, database_url, log, role="store")
    try:
        await wait_for_worker(settings, settings.store_queue, log)
        page = await client.list_concepts(alice)  # no GPU worker runs at all
        assert page.total == 0
        assert "libtorch" not in _maps(worker.pid), log.read_text()
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        await client.close()
