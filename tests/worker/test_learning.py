"""The memory learns from the chat, through the public client API on real Postgres and the tiny
random-weight models: "yes, that's bo" after a photo answer adds the crop as a view of bo; "no"
stores it as a negative view, and the same look-alike is no longer recognised as bo while bo's own
photo still is. Thresholds are 0 (see test_local_pipeline.py: the tiny CLIP embeds every photo
close to every other), so what retrieval ranks is what is reported."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from PIL import Image
from worker_testkit import remember_whole

from memory.settings import MemorySettings
from memory.store import MemoryStore
from worker.errors import BAD_REQUEST, NO_FEEDBACK, RapError
from worker.schemas import AnswerResult, Recognised, Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient


def mirrored(photo: bytes) -> bytes:
    """Another photo of the same thing: its mirror image."""
    out = io.BytesIO()
    Image.open(io.BytesIO(photo)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out, format="JPEG")
    return out.getvalue()


def seen_as(answer: AnswerResult, name: str) -> Recognised:
    [found] = [r for r in answer.recognised if r.name == name]
    assert found.similarity is not None and found.feedback_id
    return found


@pytest.fixture
def small_store(database_url: str) -> Iterator[MemoryStore]:
    """At most 3 photos per concept, negatives included."""
    memory = MemoryStore(database_url, MemorySettings(max_views_per_concept=3))
    yield memory
    memory.close()


@pytest.fixture
async def learner(small_store: MemoryStore, tiny_models: Any, alice: Requester) -> AsyncIterator[LocalClient]:
    local = LocalClient.for_store(small_store, tiny_models, WorkerSettings(reply_max_new_tokens=8))
    await local.update_settings(alice, similarity_threshold=0.0)
    yield local
    await local.close()


async def test_yes_adds_the_recognised_crop_as_a_view_and_is_audited(
    learner: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await remember_whole(learner, alice, "bo", photos["cat"])
    answer = await learner.answer(alice, photos["astronaut"], None)
    bo = seen_as(answer, "bo")

    confirmed = await learner.feedback(alice, bo.feedback_id or "", "bo", True)

    assert (confirmed.view_count, confirmed.negative_count) == (2, 0)
    assert len((await learner.show(alice, "bo")).images) == 2
    latest = (await learner.audit(alice))[0]
    assert (latest.action, latest.concept) == ("confirm", "bo")
    with pytest.raises(RapError) as again:  # answered: that crop no longer waits
        await learner.feedback(alice, bo.feedback_id or "", "bo", False)
    assert again.value.code == NO_FEEDBACK


async def test_no_vetoes_the_look_alike_but_not_bos_own_photo(
    learner: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await remember_whole(learner, alice, "bo", photos["cat"])
    lookalike = await learner.answer(alice, photos["astronaut"], "who is this?")
    bo = seen_as(lookalike, "bo")

    rejected = await learner.feedback(alice, bo.feedback_id or "", None, False)

    assert (rejected.view_count, rejected.negative_count) == (1, 1)
    again = await learner.answer(alice, photos["astronaut"], "who is this?")
    assert "bo" not in {r.name for r in again.recognised}
    assert "bo" in {r.name for r in (await learner.answer(alice, photos["cat"], None)).recognised}
    assert (await learner.audit(alice))[0].action == "reject"
    detail = await learner.show(alice, "bo")
    assert detail.concept.negative_count == 1 and len(detail.images) == 1  # /show lists its own photos only


async def test_feedback_respects_the_views_quota(
    learner: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await remember_whole(learner, alice, "bo", photos["cat"])
    await learner.add_view(alice, "bo", photos["coffee"])
    first = seen_as(await learner.answer(alice, photos["astronaut"], None), "bo")
    await learner.feedback(alice, first.feedback_id or "", "bo", False)  # the third of 3
    assert "bo" not in {r.name for r in (await learner.answer(alice, photos["astronaut"], None)).recognised}

    hit = seen_as(await learner.answer(alice, mirrored(photos["cat"]), None), "bo")
    with pytest.raises(RapError) as full:
        await learner.feedback(alice, hit.feedback_id or "", "bo", True)
    assert full.value.code == "quota_exceeded" and "counting 1 it is not" in full.value.message
    concept = (await learner.list_concepts(alice)).items[0]
    assert (concept.view_count, concept.negative_count) == (2, 1)


async def test_feedback_is_only_for_that_chat_and_that_concept(
    learner: LocalClient, alice: Requester, bob: Requester, photos: dict[str, bytes]
) -> None:
    await remember_whole(learner, alice, "bo", photos["cat"])
    bo = seen_as(await learner.answer(alice, photos["astronaut"], None), "bo")

    with pytest.raises(RapError) as other_user:
        await learner.feedback(bob, bo.feedback_id or "", "bo", True)
    assert other_user.value.code == NO_FEEDBACK
    with pytest.raises(RapError) as other_name:
        await learner.feedback(alice, bo.feedback_id or "", "rex", True)
    assert other_name.value.code == BAD_REQUEST and "<bo>" in other_name.value.message
    with pytest.raises(RapError) as unknown:
        await learner.feedback(alice, "nosuchid", None, True)
    assert unknown.value.code == NO_FEEDBACK
    assert (await learner.show(alice, "bo")).concept.view_count == 1


async def test_feedback_is_served_by_a_store_only_worker_from_redis(
    small_store: MemoryStore, tiny_models: Any, alice: Requester, photos: dict[str, bytes]
) -> None:
    """Deployed, the answer runs on a GPU worker and the yes / no on a store worker that loads no
    network: the crop and its embedding wait in Redis in between."""
    import uuid

    from redis import Redis

    from worker.client import STORE, queue_of
    from worker.domain.runtime import Runtime
    from worker.transport.redis_pending import RedisPendingStore

    settings = WorkerSettings(reply_max_new_tokens=8)
    redis = Redis.from_url("redis://127.0.0.1:6379/11")
    prefix = f"test-learning-{uuid.uuid4().hex[:8]}:"
    gpu = Runtime(small_store, settings, RedisPendingStore(redis, 60, prefix=prefix), tiny_models)
    try:
        store_only = Runtime(small_store, settings, RedisPendingStore(redis, 60, prefix=prefix), serve_models=False)
        gpu.call("update_settings", who=alice, similarity_threshold=0.0)
        remembered = gpu.call("remember", who=alice, name="bo", description="", images=[photos["cat"]])
        if remembered.pending_id:
            gpu.call("choose", who=alice, pending_id=remembered.pending_id, choice="whole")
        bo = seen_as(gpu.call("answer", who=alice, image=photos["astronaut"], text=None), "bo")

        assert queue_of("feedback") == STORE  # the store queue: it never waits behind a generation
        rejected = store_only.call("feedback", who=alice, feedback_id=bo.feedback_id, name="bo", correct=False)

        assert rejected.negative_count == 1
        again = gpu.call("answer", who=alice, image=photos["astronaut"], text=None)
        assert "bo" not in {r.name for r in again.recognised}
    finally:
        if gpu.engine is not None:  # its serving threads; the store is the fixture's to close
            gpu.engine.close()
        for key in redis.scan_iter(f"{prefix}*"):
            redis.delete(key)
        redis.close()
