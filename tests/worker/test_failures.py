"""Failures a user meets as one clear message: missing weights, a GPU out of memory (per request:
the worker frees the cache, retries smaller, fails only what cannot fit, and stays on its GPU)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
import torch

from memory.store import MemoryStore
from model.types import GenerationRequest, ModelBundle
from worker.domain.pending import InMemoryPendingStore
from worker.domain.runtime import Runtime
from worker.errors import MODEL_MISSING, OUT_OF_MEMORY, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient


async def test_missing_weights_name_the_command_that_fetches_them(
    store: MemoryStore, alice: Requester, photos: dict[str, bytes]
) -> None:
    from model.profiles import load_bundle

    client = LocalClient.for_store(store, load_bundle("gpu"))  # offline here: no gpu weights on disk
    with pytest.raises(RapError) as err:
        await client.remember(alice, "mochi", "my cat", [photos["cat"]])
    assert err.value.code == MODEL_MISSING and "rapbot models pull" in err.value.message
    assert (await client.list_concepts(alice)).total == 0


class OutOfMemoryAbove:
    """Wraps the real tiny generator as a GPU with too little memory would behave: a batch of more
    than `fits` requests, or any request asking about "the huge photo", fails with CUDA's error;
    `failures` more calls fail whatever they hold. Everything else runs the real network."""

    def __init__(self, generator: Any, fits: int, failures: int = 0) -> None:
        self._generator = generator
        self.fits = fits
        self.failures = failures
        self.max_concepts = generator.max_concepts
        self.batch_sizes: list[int] = []

    def generate_batch(self, requests: list[GenerationRequest]) -> Any:
        if self.failures or len(requests) > self.fits or any("huge" in r.question for r in requests):
            self.failures = max(0, self.failures - 1)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.batch_sizes.append(len(requests))
        return self._generator.generate_batch(requests)


def client_with(store: MemoryStore, tiny_models: ModelBundle, generator: OutOfMemoryAbove) -> LocalClient:
    settings = WorkerSettings(reply_max_new_tokens=8)
    return LocalClient(Runtime(store, settings, InMemoryPendingStore(60), replace(tiny_models, generator=generator)))


async def test_out_of_memory_once_frees_the_cache_and_retries_on_the_same_device(
    store: MemoryStore, tiny_models: ModelBundle, alice: Requester
) -> None:
    generator = OutOfMemoryAbove(tiny_models.generator, fits=16, failures=1)
    client = client_with(store, tiny_models, generator)
    assert (await client.answer(alice, None, "hello?")).text
    assert generator.batch_sizes == [1]  # the retry ran the real network, on the same generator
    await client.close()


async def test_out_of_memory_in_a_big_batch_splits_it_and_everyone_is_answered(
    store: MemoryStore, tiny_models: ModelBundle, alice: Requester, bob: Requester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch closes when max_batch requests wait (the long window only makes that deterministic).
    monkeypatch.setenv("RAPBOT_MAX_BATCH", "4")
    monkeypatch.setenv("RAPBOT_BATCH_WAIT_MS", "1000")
    generator = OutOfMemoryAbove(tiny_models.generator, fits=2)
    client = client_with(store, tiny_models, generator)
    questions = ["hello?", "how are you?", "what is this?", "who am I?"]
    answers = await asyncio.gather(
        *(client.answer(who, None, q) for who, q in zip([alice, bob] * 2, questions, strict=True))
    )
    assert all(a.text for a in answers)
    assert max(generator.batch_sizes) <= 2 and sum(generator.batch_sizes) == 4
    stats = client.runtime.engine_stats()
    assert stats is not None and stats["generate"]["oom_splits"] >= 1  # the batch of 4 did not fit
    alone = client_with(store, tiny_models, OutOfMemoryAbove(tiny_models.generator, fits=16))
    assert [a.text for a in answers] == [(await alone.answer(alice, None, q)).text for q in questions]
    await client.close()
    await alone.close()


async def test_a_request_too_big_for_the_gpu_fails_alone_and_the_worker_keeps_serving(
    store: MemoryStore, tiny_models: ModelBundle, alice: Requester, bob: Requester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPBOT_MAX_BATCH", "2")
    monkeypatch.setenv("RAPBOT_BATCH_WAIT_MS", "1000")
    generator = OutOfMemoryAbove(tiny_models.generator, fits=16)
    client = client_with(store, tiny_models, generator)
    huge, fine = await asyncio.gather(
        client.answer(alice, None, "what is in the huge photo?"),
        client.answer(bob, None, "hello?"),
        return_exceptions=True,
    )
    assert isinstance(huge, RapError) and huge.code == OUT_OF_MEMORY and "out of memory" in huge.message
    assert not isinstance(fine, BaseException) and fine.text
    assert (await client.answer(alice, None, "and now?")).text  # still serving, same device
    await client.close()
