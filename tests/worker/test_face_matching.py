"""People by face, end to end through the in-process client: the tiny profile's networks (random
CLIP, detector and generator) with dlib's REAL face weights, on a real Postgres + pgvector.

The tiny CLIP has random weights, so with the memory's threshold at 0 it "recognises" every stored
concept in every photo. That makes these tests sharp: when a person is NOT recognised in a photo,
the face rule ruled them out, and when they are recognised at their face, the face matched."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageOps
from worker_testkit import remember_whole

from bot.replies import feedback_done
from memory.store import MemoryStore
from memory.types import ViewInfo, is_face_encoder
from worker.schemas import Requester
from worker.transport.local import LocalClient

FACE_BOX = (175.0, 76.0, 266.0, 167.0)  # her face in skimage's 512x512 astronaut photo


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def ultralytics_photo(name: str) -> bytes:
    import ultralytics

    return (Path(ultralytics.__file__).parent / "assets" / name).read_bytes()


def stored_views(store: MemoryStore, who: Requester, name: str) -> list[ViewInfo]:
    scope = store.scope(who.platform, "user", who.user_id)
    (concept,) = store.get_by_names([scope.id], [name])
    return store.views(concept.id)


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture
async def eileen(client: LocalClient, alice: Requester, astronaut: Image.Image) -> Requester:
    """alice's memory with "eileen" remembered from the astronaut photo, CLIP's threshold at 0."""
    await client.update_settings(alice, similarity_threshold=0.0)
    await remember_whole(client, alice, "eileen", jpeg(astronaut))
    return alice


async def test_remembering_a_person_stores_her_face_next_to_the_photo(
    client: LocalClient, eileen: Requester, store: MemoryStore
) -> None:
    concept = (await client.list_concepts(eileen)).items[0]
    assert concept.view_count == 1  # the face is not another photo
    assert len((await client.show(eileen, "eileen")).images) == 1

    views = stored_views(store, eileen, "eileen")
    faces = [view for view in views if is_face_encoder(view.encoder)]
    assert len(views) == 2 and len(faces) == 1
    assert faces[0].box is not None
    assert all(abs(a - b) <= 6 for a, b in zip(faces[0].box, FACE_BOX, strict=True))


@pytest.mark.parametrize(
    "edit",
    [
        ImageOps.mirror,
        lambda im: im.resize((768, 768)),
        lambda im: ImageEnhance.Brightness(im).enhance(0.7),
    ],
    ids=["mirrored", "1.5x", "darker"],
)
async def test_she_is_recognised_by_her_face_in_another_photo(
    client: LocalClient, eileen: Requester, astronaut: Image.Image, edit: object
) -> None:
    photo = jpeg(edit(astronaut))  # type: ignore[operator]
    answer = await client.answer(eileen, photo, "who is this?")

    assert [r.name for r in answer.recognised] == ["eileen"]
    seen = answer.recognised[0]
    assert seen.similarity is not None and seen.similarity > 0.9  # a face's cosine, not CLIP's
    assert seen.box is not None
    x1, y1, x2, y2 = seen.box
    assert 60 <= x2 - x1 <= 160 and 60 <= y2 - y1 <= 160  # her face's box, not the whole photo


@pytest.mark.parametrize("photo", ["bus.jpg", "zidane.jpg"])
async def test_someone_elses_face_rules_her_out_whatever_clip_says(
    client: LocalClient, eileen: Requester, photo: str
) -> None:
    answer = await client.answer(eileen, ultralytics_photo(photo), "who is this?")

    assert "eileen" not in {r.name for r in answer.recognised}


async def test_with_no_face_visible_clip_decides_and_things_are_judged_by_clip(
    client: LocalClient, eileen: Requester, photos: dict[str, bytes], astronaut: Image.Image
) -> None:
    # No face in the cat photo: she is judged by CLIP, which (random, threshold 0) keeps her.
    assert "eileen" in {r.name for r in (await client.answer(eileen, photos["cat"], None)).recognised}

    # A thing has no face view: a visible face never rules it out.
    await remember_whole(client, eileen, "cup", photos["coffee"])
    answer = await client.answer(eileen, jpeg(ImageOps.mirror(astronaut)), None)
    assert [r.name for r in answer.recognised] == ["eileen", "cup"]  # the face first, then CLIP
    bus = await client.answer(eileen, ultralytics_photo("bus.jpg"), None)
    assert {r.name for r in bus.recognised} == {"cup"}


async def test_a_new_photo_of_her_adds_a_face_view_too(
    store: MemoryStore, alice: Requester, astronaut: Image.Image
) -> None:
    # The tiny detector's boxes are random, so its crop may miss her face. A detector that keeps no
    # box (confidence 1.0) makes every photo its own subject: the face is then always in the crop.
    from model.profiles import load_bundle
    from model.settings import ModelSettings
    from worker.settings import WorkerSettings

    whole_photos = load_bundle("tiny", ModelSettings(profile="tiny", detector_conf=1.0))
    client = LocalClient.for_store(store, whole_photos, WorkerSettings(reply_max_new_tokens=4))
    try:
        await remember_whole(client, alice, "eileen", jpeg(astronaut))
        added = await client.add_view(alice, "eileen", jpeg(ImageOps.mirror(astronaut)))
    finally:
        await client.close()

    assert added.view_count == 2
    faces = [view for view in stored_views(store, alice, "eileen") if is_face_encoder(view.encoder)]
    assert len(faces) == 2
    mirrored = (512 - FACE_BOX[2], FACE_BOX[1], 512 - FACE_BOX[0], FACE_BOX[3])
    assert faces[1].box is not None and all(abs(a - b) <= 6 for a, b in zip(faces[1].box, mirrored, strict=True))


async def test_another_memory_never_sees_her_face(
    client: LocalClient, eileen: Requester, bob: Requester, astronaut: Image.Image
) -> None:
    await client.update_settings(bob, similarity_threshold=0.0)
    answer = await client.answer(bob, jpeg(ImageOps.mirror(astronaut)), "who is this?")
    assert answer.recognised == []


async def test_yes_and_no_about_a_face_teach_her_face(
    client: LocalClient, eileen: Requester, astronaut: Image.Image, store: MemoryStore
) -> None:
    """A person recognised by face is offered yes / no like anything else: yes adds that face as
    another face view of hers; no stores it as a negative of hers, so the same face is then not
    taken for her, while her own photo (closer to her face than to the negative) still is."""
    mirrored = await client.answer(eileen, jpeg(ImageOps.mirror(astronaut)), None)
    [seen] = mirrored.recognised
    assert seen.name == "eileen" and seen.feedback_id
    confirmed = await client.feedback(eileen, seen.feedback_id, "eileen", True)
    assert confirmed.view_count == 1  # a face is no photo
    assert confirmed.face_count == 2  # ... and the reply says a face was learned, with the count that changed
    assert feedback_done(confirmed, True) == "thanks: I added that face to <eileen> (2 faces; photos: 1)."
    faces = [view for view in stored_views(store, eileen, "eileen") if is_face_encoder(view.encoder)]
    assert len(faces) == 2  # her first face and the confirmed mirrored one

    darker = jpeg(ImageEnhance.Brightness(astronaut).enhance(0.6))
    [lookalike] = (await client.answer(eileen, darker, None)).recognised
    assert lookalike.feedback_id
    rejected = await client.feedback(eileen, lookalike.feedback_id, None, False)
    assert (rejected.view_count, rejected.negative_count) == (1, 1)
    assert "that face is not <eileen>" in feedback_done(rejected, False)
    assert "eileen" not in {r.name for r in (await client.answer(eileen, darker, None)).recognised}
    assert [r.name for r in (await client.answer(eileen, jpeg(astronaut), None)).recognised] == ["eileen"]
