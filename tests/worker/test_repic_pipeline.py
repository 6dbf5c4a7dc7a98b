"""The pipeline with the RePIC generator (the `tiny-repic` profile: tiny encoder and detector, a
random-weight Qwen2.5-VL with RePIC's prompt), in process, on real Postgres.

Thresholds are 0 as in test_local_pipeline.py: the tiny CLIP's random weights embed every photo
close to every other, so whatever the retrieval ranks is kept."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image
from worker_testkit import remember_whole

from bot import replies
from memory.store import MemoryStore
from model.profiles import load_bundle
from model.types import ModelBundle
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def repic_models() -> ModelBundle:
    return load_bundle("tiny-repic")


@pytest.fixture(scope="module")
def snapshots() -> dict[str, Image.Image]:
    from skimage import data

    found = {
        "cat": data.chelsea(),
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "coins": data.coins(),
        "hubble": data.hubble_deep_field(),
        "camera": data.camera(),
    }
    return {name: Image.fromarray(array).convert("RGB") for name, array in found.items()}


def group_photo(snapshots: dict[str, Image.Image]) -> bytes:
    """All the snapshots in one picture, two a row: many things in one photo."""
    side, columns = 256, 2
    rows = -(-len(snapshots) // columns)
    canvas = Image.new("RGB", (columns * side, rows * side), (128, 128, 128))
    for index, image in enumerate(snapshots.values()):
        canvas.paste(image.resize((side, side)), ((index % columns) * side, (index // columns) * side))
    return jpeg(canvas)


@pytest.fixture
async def repic_client(store: MemoryStore, repic_models: ModelBundle) -> AsyncIterator[LocalClient]:
    local = LocalClient.for_store(store, repic_models, WorkerSettings(reply_max_new_tokens=16))
    yield local
    await local.close()


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


async def remember_boxed(client: LocalClient, who: Requester, name: str, photo: bytes) -> None:
    """Remember the first box the detector offers, so the group photo is searched box by box."""
    result = await client.remember(who, name, f"{name}, my own", [photo])
    if result.status == "candidates":
        assert result.pending_id
        result = await client.choose(who, result.pending_id, 1)
    assert result.status == "stored"


async def test_more_recognised_than_the_limit_says_which_were_left_out(
    repic_client: LocalClient, alice: Requester, snapshots: dict[str, Image.Image]
) -> None:
    await repic_client.update_settings(alice, similarity_threshold=0.0)
    for name, image in snapshots.items():
        await remember_boxed(repic_client, alice, name, jpeg(image))

    answer = await repic_client.answer(alice, group_photo(snapshots), None)

    assert len(answer.recognised) == 4  # RePIC's default: 4 concepts a photo
    assert answer.left_out  # 5 or more recognised
    assert set(answer.left_out).isdisjoint(r.name for r in answer.recognised)
    assert set(answer.left_out) <= set(snapshots)
    reply = replies.answer(answer, with_photo=True)
    assert reply.splitlines()[-1] == "also saw but left out: " + ", ".join(f"<{n}>" for n in answer.left_out)


async def test_the_limit_is_a_setting(
    store: MemoryStore, alice: Requester, snapshots: dict[str, Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPBOT_REPIC_MAX_CONCEPTS", "2")
    client = LocalClient.for_store(store, load_bundle("tiny-repic"), WorkerSettings(reply_max_new_tokens=4))
    try:
        await client.update_settings(alice, similarity_threshold=0.0)
        for name in ("cat", "coffee", "astronaut"):
            await remember_boxed(client, alice, name, jpeg(snapshots[name]))
        answer = await client.answer(alice, group_photo(snapshots), None)
    finally:
        await client.close()

    assert len(answer.recognised) == 2 and len(answer.left_out) == 1
    assert "also saw but left out: " in replies.answer(answer, with_photo=True)
