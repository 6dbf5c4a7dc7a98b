"""Failures a user meets as one clear message: missing weights, a GPU out of memory."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from memory.store import MemoryStore
from model.types import ModelBundle
from worker.errors import MODEL_MISSING, OUT_OF_MEMORY, RapError
from worker.local import LocalClient
from worker.pending import InMemoryPendingStore
from worker.runtime import Runtime
from worker.schemas import Requester
from worker.settings import WorkerSettings


async def test_missing_weights_name_the_command_that_fetches_them(
    store: MemoryStore, alice: Requester, photos: dict[str, bytes]
) -> None:
    from model.profiles import load_bundle

    client = LocalClient.for_store(store, load_bundle("gpu"))  # offline here: no gpu weights on disk
    with pytest.raises(RapError) as err:
        await client.remember(alice, "mochi", "my cat", [photos["cat"]])
    assert err.value.code == MODEL_MISSING and "rapbot models pull" in err.value.message
    assert (await client.list_concepts(alice)).total == 0


class OutOfMemoryOnce:
    """Wraps a real generator: the first call fails as a full GPU would, later calls run it."""

    def __init__(self, generator: Any, failures: int) -> None:
        self._generator = generator
        self._failures = failures
        self.max_concepts = generator.max_concepts

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        if self._failures:
            self._failures -= 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self._generator.generate(*args, **kwargs)


def runtime_with(store: MemoryStore, tiny_models: ModelBundle, gpu_failures: int, cpu_failures: int) -> Runtime:
    def on_cpu(profile: str | None, device: str | None) -> ModelBundle:
        assert device == "cpu"
        return replace(tiny_models, generator=OutOfMemoryOnce(tiny_models.generator, cpu_failures))

    gpu = replace(tiny_models, generator=OutOfMemoryOnce(tiny_models.generator, gpu_failures))
    settings = WorkerSettings(reply_max_new_tokens=8)
    return Runtime(store, settings, InMemoryPendingStore(60), gpu, bundle_loader=on_cpu)


async def test_out_of_memory_is_retried_once_on_the_cpu(
    store: MemoryStore, tiny_models: ModelBundle, alice: Requester
) -> None:
    client = LocalClient(runtime_with(store, tiny_models, gpu_failures=1, cpu_failures=0))
    assert (await client.answer(alice, None, "hello?")).text


async def test_out_of_memory_twice_is_a_clear_error(
    store: MemoryStore, tiny_models: ModelBundle, alice: Requester
) -> None:
    client = LocalClient(runtime_with(store, tiny_models, gpu_failures=1, cpu_failures=1))
    with pytest.raises(RapError) as err:
        await client.answer(alice, None, "hello?")
    assert err.value.code == OUT_OF_MEMORY and "out of memory" in err.value.message
