"""The pipeline with the RePIC generator (the `tiny-repic` profile: tiny encoder and detector, a
random-weight Qwen2.5-VL with RePIC's prompt), in process, on real Postgres.

Thresholds are 0 as in test_local_pipeline.py: the tiny CLIP's random weights embed every photo
close to every other, so whatever the retrieval ranks is kept."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image

from bot import replies
from memory.store import MemoryStore
from model.profiles import load_bundle
from model.settings import ModelSettings
from model.types import ModelBundle
from worker.local import LocalClient
from worker.schemas import Requester
from worker.settings import WorkerSettings


def jpeg_of(array: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def repic_models() -> ModelBundle:
    return load_bundle("tiny-repic")


@pytest.fixture(scope="module")
def five_photos(photos: dict[str, bytes]) -> dict[str, bytes]:
    from skimage import data

    more = {"rocket": jpeg_of(data.rocket()), "coins": jpeg_of(data.coins())}
    return {**photos, **more}


@pytest.fixture
async def repic_client(store: MemoryStore, repic_models: ModelBundle) -> AsyncIterator[LocalClient]:
    local = LocalClient.for_store(store, repic_models, WorkerSettings(reply_max_new_tokens=16))
    yield local
    await local.close()


async def remember_whole(client: LocalClient, who: Requester, name: str, photo: bytes) -> None:
    result = await client.remember(who, name, f"{name}, my own", [photo])
    if result.status == "candidates":
        assert result.pending_id
        result = await client.choose(who, result.pending_id, "whole")
    assert result.status == "stored"


async def test_repic_answers_a_photo_question_naming_what_it_recognised(
    repic_client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await repic_client.update_settings(alice, similarity_threshold=0.0)
    await remember_whole(repic_client, alice, "mochi", photos["cat"])
    await remember_whole(repic_client, alice, "cup", photos["coffee"])

    answer = await repic_client.answer(alice, photos["cat"], "what is <mochi> doing?")

    assert answer.text  # what the random Qwen2.5-VL wrote, through RePIC's prompt
    assert answer.recognised[0].name == "mochi"
    assert {r.name for r in answer.recognised} == {"mochi", "cup"}
    assert answer.left_out == []
    text_only = await repic_client.answer(alice, None, "what does <cup> hold?")
    assert text_only.text and [r.name for r in text_only.recognised] == ["cup"]


async def test_more_recognised_than_the_limit_says_which_were_left_out(
    repic_client: LocalClient, alice: Requester, five_photos: dict[str, bytes]
) -> None:
    await repic_client.update_settings(alice, similarity_threshold=0.0)
    for name, photo in five_photos.items():
        await remember_whole(repic_client, alice, name, photo)

    answer = await repic_client.answer(alice, five_photos["cat"], None)

    assert len(answer.recognised) == 4  # RePIC's default: 4 concepts a photo
    assert len(answer.left_out) == 1
    assert set(answer.left_out).isdisjoint(r.name for r in answer.recognised)
    assert {r.name for r in answer.recognised} | set(answer.left_out) == set(five_photos)
    reply = replies.answer(answer, with_photo=True)
    assert reply.splitlines()[-1] == f"also saw but left out: <{answer.left_out[0]}>"


async def test_the_limit_is_a_setting(
    store: MemoryStore, alice: Requester, five_photos: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPBOT_REPIC_MAX_CONCEPTS", "2")
    bundle = load_bundle("tiny-repic", ModelSettings())
    client = LocalClient.for_store(store, bundle, WorkerSettings(reply_max_new_tokens=4))
    try:
        await client.update_settings(alice, similarity_threshold=0.0)
        for name in ("cat", "coffee", "astronaut"):
            await remember_whole(client, alice, name, five_photos[name])
        answer = await client.answer(alice, five_photos["cat"], None)
    finally:
        await client.close()

    assert len(answer.recognised) == 2 and len(answer.left_out) == 1
    assert "also saw but left out: " in replies.answer(answer, with_photo=True)
