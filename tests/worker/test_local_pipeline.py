"""The pipeline through the in-process client, on real Postgres and the tiny random-weight models.

About thresholds: the tiny profile's CLIP has random weights, so every photo embeds close to every
other (cosine 0.85..1.0 measured), and a real deployment's threshold means nothing for it. These tests
set the scope's threshold to 0 so that whatever the retrieval ranks is kept, and then check what a
user would notice: the concept remembered from the same photo ranks first, another memory's
concepts never appear, a forgotten concept is gone at once."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from worker_testkit import remember_whole

from worker.errors import BAD_REQUEST, NO_PENDING, RapError
from worker.schemas import Requester
from worker.transport.local import LocalClient


async def test_remember_then_answer_with_the_same_photo_recognises_it(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await client.update_settings(alice, similarity_threshold=0.0)
    await remember_whole(client, alice, "mochi", photos["cat"])
    await remember_whole(client, alice, "cup", photos["coffee"])

    answer = await client.answer(alice, photos["cat"], None)

    assert answer.text  # the caption the generator wrote
    assert answer.recognised[0].name == "mochi"
    assert answer.recognised[0].similarity is not None and answer.recognised[0].box is not None
    drawn = Image.open(io.BytesIO(answer.annotated_image or b""))
    assert drawn.size == Image.open(io.BytesIO(photos["cat"])).size

    other = await client.answer(alice, photos["coffee"], "what is on the table?")
    assert other.recognised[0].name == "cup"


async def test_another_memory_is_never_recognised(
    client: LocalClient, alice: Requester, bob: Requester, photos: dict[str, bytes]
) -> None:
    await remember_whole(client, alice, "mochi", photos["cat"])
    group = Requester(platform="console", user_id="bob", chat_kind="group", chat_id="g1", moderator=True)
    await client.update_settings(bob, similarity_threshold=0.0)
    await client.update_settings(group, similarity_threshold=0.0)
    await remember_whole(client, bob, "rocketman", photos["astronaut"])

    for who in (bob, group):
        seen = await client.answer(who, photos["cat"], "who is this?")
        named = await client.answer(who, None, "what does <mochi> like? does mochi like sardines?")
        assert "mochi" not in {r.name for r in seen.recognised + named.recognised}
    assert [r.name for r in (await client.answer(bob, photos["cat"], None)).recognised] == ["rocketman"]


async def test_forget_stops_recognition_at_once(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await client.update_settings(alice, similarity_threshold=0.0)
    await remember_whole(client, alice, "mochi", photos["cat"])
    assert "mochi" in {r.name for r in (await client.answer(alice, photos["cat"], None)).recognised}

    await client.forget(alice, "mochi")

    assert (await client.answer(alice, photos["cat"], None)).recognised == []
    assert (await client.answer(alice, None, "what does <mochi> like?")).recognised == []


async def test_ambiguous_photo_gives_numbered_candidates_then_choose_stores_that_box(
    client: LocalClient, alice: Requester, bob: Requester, photos: dict[str, bytes]
) -> None:
    first = await client.remember(alice, "mochi", "my cat", [photos["cat"]])
    assert first.status == "candidates" and first.pending_id
    assert [c.index for c in first.candidates] == list(range(1, len(first.candidates) + 1))
    assert len(first.candidates) >= 2
    assert Image.open(io.BytesIO(first.annotated_image or b"")).format == "JPEG"
    assert (await client.list_concepts(alice)).total == 0  # nothing stored while waiting

    with pytest.raises(RapError) as wrong_number:
        await client.choose(alice, first.pending_id, 99)
    assert wrong_number.value.code == BAD_REQUEST
    with pytest.raises(RapError) as not_yours:
        await client.choose(bob, first.pending_id, 1)
    assert not_yours.value.code == NO_PENDING

    chosen = first.candidates[1]
    stored = await client.choose(alice, first.pending_id, 2)
    assert stored.status == "stored" and stored.concept is not None
    assert stored.concept.category == chosen.label
    detail = await client.show(alice, "mochi")
    crop = Image.open(io.BytesIO(detail.images[0]))
    x1, y1, x2, y2 = chosen.box
    assert abs(crop.width - (x2 - x1)) <= 2 and abs(crop.height - (y2 - y1)) <= 2

    with pytest.raises(RapError) as again:
        await client.choose(alice, first.pending_id, 1)
    assert again.value.code == NO_PENDING


async def test_cancel_stores_nothing(client: LocalClient, alice: Requester, photos: dict[str, bytes]) -> None:
    first = await client.remember(alice, "mochi", "my cat", [photos["cat"]])
    assert first.pending_id
    assert (await client.choose(alice, first.pending_id, "cancel")).status == "cancelled"
    assert (await client.list_concepts(alice)).total == 0


async def test_album_is_one_concept_with_every_photo_a_view(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    result = await client.remember(alice, "desk", "my desk things", [photos["coffee"], photos["astronaut"]])
    assert result.status == "stored" and result.concept is not None
    assert result.concept.view_count == 2 and result.views_added == 2

    added = await client.add_view(alice, "desk", photos["cat"])
    assert added.view_count == 3
    assert len((await client.show(alice, "desk")).images) == 3


async def test_text_only_question_uses_the_named_concept(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await remember_whole(client, alice, "Mochi", photos["cat"])
    await remember_whole(client, alice, "cup", photos["coffee"])

    bracketed = await client.answer(alice, None, "What does <mochi> like to eat?")
    assert [(r.name, r.similarity, r.box) for r in bracketed.recognised] == [("Mochi", None, None)]
    assert bracketed.text and bracketed.annotated_image is None
    plain = await client.answer(alice, None, "does MOCHI like the cup?")
    assert [r.name for r in plain.recognised] == ["Mochi", "cup"]
    assert (await client.answer(alice, None, "is mochiko here?")).recognised == []


async def test_same_inputs_give_the_same_answer(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await client.update_settings(alice, similarity_threshold=0.0)
    await remember_whole(client, alice, "mochi", photos["cat"])
    first = await client.answer(alice, photos["cat"], "what is <mochi> doing?")
    second = await client.answer(alice, photos["cat"], "what is <mochi> doing?")
    assert first == second


async def test_empty_request_and_duplicate_name_are_refused(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    with pytest.raises(RapError) as empty:
        await client.answer(alice, None, "   ")
    assert empty.value.code == BAD_REQUEST
    await remember_whole(client, alice, "mochi", photos["cat"])
    with pytest.raises(RapError) as duplicate:
        await client.remember(alice, "MOCHI", "another", [photos["coffee"]])
    assert duplicate.value.code == "duplicate_name"
    with pytest.raises(RapError) as nameless:
        await client.remember(alice, "  ", "no name", [photos["coffee"]])
    assert nameless.value.code == "invalid_name"
    assert (await client.list_concepts(alice)).total == 1


async def test_erase_forgets_everything_and_the_user_can_start_again(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await remember_whole(client, alice, "mochi", photos["cat"])
    exported = await client.export(alice)
    assert exported[:2] == b"PK"  # a zip
    erased = await client.erase(alice)
    assert erased.concepts_deleted == 1 and erased.views_deleted == 1
    assert (await client.list_concepts(alice)).total == 0
    await remember_whole(client, alice, "mochi", photos["cat"])
    assert [c.name for c in (await client.list_concepts(alice)).items] == ["mochi"]


async def test_a_locked_group_refuses_a_members_remember_before_showing_any_boxes(
    client: LocalClient, photos: dict[str, bytes]
) -> None:
    moderator = Requester(platform="console", user_id="mod", chat_kind="group", chat_id="g9", moderator=True)
    member = Requester(platform="console", user_id="ann", chat_kind="group", chat_id="g9")
    await client.update_settings(moderator, locked=True)

    # The astronaut photo gives the tiny detector several comparable boxes: without the early
    # check the member would be asked to choose one and refused only afterwards.
    with pytest.raises(RapError) as refused:
        await client.remember(member, "rocketman", "our astronaut", [photos["astronaut"]])

    assert refused.value.code == "permission_denied"
    assert "locked" in refused.value.message
    assert (await client.list_concepts(member)).total == 0
    await remember_whole(client, moderator, "rocketman", photos["astronaut"])
    assert (await client.list_concepts(member)).total == 1


async def test_a_retried_remember_or_add_photo_says_it_was_already_saved(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    """The user retries after a lost reply (or sends the same photo twice): nothing is added twice,
    and the reply says what is already there."""
    from worker.errors import ALREADY_SAVED

    album = [photos["coffee"], photos["astronaut"]]
    await client.remember(alice, "desk", "my desk things", album)
    with pytest.raises(RapError) as again:
        await client.remember(alice, "desk", "my desk things", album)
    assert again.value.code == ALREADY_SAVED and "you saved it earlier" in again.value.message
    with pytest.raises(RapError) as other_photo:  # the same name with another photo: a real clash
        await client.remember(alice, "desk", "my desk things", [photos["cat"]])
    assert other_photo.value.code == "duplicate_name"

    await client.add_view(alice, "desk", photos["cat"])
    with pytest.raises(RapError) as twice:
        await client.add_view(alice, "desk", photos["cat"])
    assert twice.value.code == ALREADY_SAVED and "already has this photo (3 photos)" in twice.value.message
    assert (await client.list_concepts(alice)).items[0].view_count == 3
