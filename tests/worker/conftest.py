"""Fixtures of the worker tests: real photos (scikit-image), a store on a fresh database, and a
LocalClient over it with the session's tiny models."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from PIL import Image

from memory.store import MemoryStore
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient


def jpeg_of(array: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    from skimage import data

    return {"cat": jpeg_of(data.chelsea()), "astronaut": jpeg_of(data.astronaut()), "coffee": jpeg_of(data.coffee())}


@pytest.fixture
def store(database_url: str) -> Iterator[MemoryStore]:
    memory = MemoryStore(database_url)
    yield memory
    memory.close()


@pytest.fixture
async def client(store: MemoryStore, tiny_models: Any) -> AsyncIterator[LocalClient]:
    # Short answers: the tiny generator writes noise, and 512 tokens of it only cost time.
    local = LocalClient.for_store(store, tiny_models, WorkerSettings(reply_max_new_tokens=16))
    yield local
    await local.close()


@pytest.fixture
def alice() -> Requester:
    return Requester(platform="console", user_id="alice")


@pytest.fixture
def bob() -> Requester:
    return Requester(platform="console", user_id="bob")
