"""Re-embedding after an encoder change, on real Postgres with two tiny random-weight encoders of
different ids: the tiny profile's (A, 768-d) and the tiny 512-d CLIP (B) selected by RAPBOT_ENCODER.

Thresholds are 0 (see test_local_pipeline.py: random weights put every photo close to every other),
so what a user notices is what ranks first, and whether anything is recognised at all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from typer.testing import CliRunner
from worker_testkit import remember_whole

from bot import replies
from memory.reembed import stored_encoders
from memory.store import MemoryStore
from memory.types import FACE_ENCODER_PREFIX, Actor, NewView, is_face_encoder
from model.encoder import ClipEncoder
from model.profiles import network_specs
from model.settings import ModelSettings
from model.tiny import TINY_DETECTOR_TEXT_SPEC, TINY_ENCODER_SPEC
from model.types import ModelBundle
from rapbot.cli import app
from worker.domain.reembed import reembed
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient

ENCODER_B = TINY_DETECTOR_TEXT_SPEC  # "open_clip:rapbot-tiny-text512/random": another id, another width
FACE_ENCODER = f"{FACE_ENCODER_PREFIX}test-descriptor/128"


@pytest.fixture(scope="module")
def encoder_b() -> ClipEncoder:
    settings = ModelSettings(profile="tiny", encoder=ENCODER_B)
    return ClipEncoder(network_specs(settings).encoder, settings)


@pytest.fixture
async def client_b(store: MemoryStore, tiny_models: ModelBundle, encoder_b: ClipEncoder) -> AsyncIterator[LocalClient]:
    """The deployment after the encoder change: the same detector and generator, encoder B."""
    bundle = ModelBundle(
        profile="tiny",
        encoder=encoder_b,
        detector=tiny_models.detector,
        generator=tiny_models.generator,
        faces=tiny_models.faces,
    )
    local = LocalClient.for_store(store, bundle, WorkerSettings(reply_max_new_tokens=8))
    yield local
    await local.close()


def concept_encoders(store: MemoryStore, scope_id: int, name: str) -> list[str]:
    return sorted(view.encoder for view in store.views(store.get(scope_id, Actor("alice"), name).id))


def image_encoders(store: MemoryStore) -> dict[str, int]:
    """Views per image encoder in the whole database (face descriptors left out)."""
    return {encoder: n for encoder, n in stored_encoders(store.engine).items() if not is_face_encoder(encoder)}


def face_encoders(store: MemoryStore) -> dict[str, int]:
    return {encoder: n for encoder, n in stored_encoders(store.engine).items() if is_face_encoder(encoder)}


def add_face_view(store: MemoryStore, scope_id: int, who: str, name: str, photo: bytes) -> None:
    """A face descriptor view, as the faces feature stores them: another kind of vector entirely."""
    vector = np.random.default_rng(7).standard_normal(128).astype(np.float32)
    view = NewView(image_jpeg=photo, embedding=vector / np.linalg.norm(vector), encoder=FACE_ENCODER)
    store.add_view(scope_id, Actor(who), name, view)


class InterruptedEncoder:
    """Encoder B, stopped (as by Ctrl-C) on its `stop_at`-th call: a run cut short part way."""

    def __init__(self, real: ClipEncoder, stop_at: int) -> None:
        self.real, self.stop_at, self.calls = real, stop_at, 0
        self.encoder_id = real.encoder_id

    @property
    def dim(self) -> int:
        return self.real.dim

    def embed_images(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.real.embed_images(images)

    def embed_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self.real.embed_texts(texts)


async def test_reembed_cli_brings_a_memory_over_to_the_new_encoder(
    client: LocalClient,
    client_b: LocalClient,
    store: MemoryStore,
    database_url: str,
    alice: Requester,
    photos: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert client.runtime.engine is not None
    assert client.runtime.engine.bundle.encoder.encoder_id == TINY_ENCODER_SPEC != ENCODER_B
    await client.update_settings(alice, similarity_threshold=0.0)
    await remember_whole(client, alice, "mochi", photos["cat"])
    await remember_whole(client, alice, "cup", photos["coffee"])
    scope_id = store.scope("console", "user", "alice").id
    add_face_view(store, scope_id, "alice", "mochi", photos["cat"])

    # After the switch to B, before re-embedding: a clear reply, not a silent "recognised: none".
    waiting = await client_b.answer(alice, photos["cat"], None)
    assert waiting.memory_updating and waiting.recognised == []
    assert replies.MEMORY_UPDATING in replies.answer(waiting, with_photo=True)
    # /addphoto is not refused: the new photo is stored with the new encoder.
    added = await client_b.add_view(alice, "mochi", photos["astronaut"])
    assert added.view_count == 2  # photos: the cat and the astronaut
    assert image_encoders(store) == {TINY_ENCODER_SPEC: 2, ENCODER_B: 1}
    faces = face_encoders(store)
    assert faces[FACE_ENCODER] == 1

    monkeypatch.setenv("RAPBOT_ENCODER", ENCODER_B)  # the configured encoder is now B
    runner = CliRunner()
    result = runner.invoke(app, ["memory", "reembed", "--url", database_url, "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert f"Re-embedded 2 views in 1 memories with {ENCODER_B}" in result.stdout
    assert f"replacing: {TINY_ENCODER_SPEC}" in result.stdout and "removed 2 old views" in result.stdout

    # Recognised again, with B's vectors; A's are gone, the face descriptor is untouched.
    assert image_encoders(store) == {ENCODER_B: 3}
    assert face_encoders(store) == faces
    for photo, name in ((photos["cat"], "mochi"), (photos["coffee"], "cup")):
        seen = await client_b.answer(alice, photo, None)
        assert not seen.memory_updating
        assert seen.recognised[0].name == name
        assert replies.MEMORY_UPDATING not in replies.answer(seen, with_photo=True)
    assert [e for e in concept_encoders(store, scope_id, "mochi") if not is_face_encoder(e)] == [ENCODER_B] * 2
    assert (await client_b.show(alice, "mochi")).concept.view_count == 2

    again = runner.invoke(app, ["memory", "reembed", "--url", database_url, "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "Re-embedded 0 views in 0 memories" in again.stdout and "removed 0 old views" in again.stdout


async def test_an_interrupted_run_resumes_and_each_memory_is_searchable_once_done(
    client: LocalClient,
    client_b: LocalClient,
    store: MemoryStore,
    encoder_b: ClipEncoder,
    alice: Requester,
    bob: Requester,
    photos: dict[str, bytes],
) -> None:
    for who, name, photo in ((alice, "mochi", photos["cat"]), (bob, "cup", photos["coffee"])):
        await client.update_settings(who, similarity_threshold=0.0)
        await remember_whole(client, who, name, photo)
    await remember_whole(client, bob, "rocketman", photos["astronaut"])

    # One batch per memory (alice's first: lower scope id); the run stops while embedding bob's.
    with pytest.raises(KeyboardInterrupt):
        reembed(store.engine, InterruptedEncoder(encoder_b, stop_at=2), batch_size=8, progress=False)

    done = await client_b.answer(alice, photos["cat"], None)
    assert not done.memory_updating and [r.name for r in done.recognised] == ["mochi"]
    pending = await client_b.answer(bob, photos["coffee"], None)
    assert pending.memory_updating and pending.recognised == []
    assert image_encoders(store) == {TINY_ENCODER_SPEC: 3, ENCODER_B: 1}  # nothing removed yet

    report = reembed(store.engine, encoder_b, batch_size=8, progress=False)

    assert (report.scopes, report.embedded, report.removed, report.unreadable) == (1, 2, 3, 0)
    assert report.sources == [TINY_ENCODER_SPEC]
    assert image_encoders(store) == {ENCODER_B: 3}
    resumed = await client_b.answer(bob, photos["coffee"], None)
    assert not resumed.memory_updating and resumed.recognised[0].name == "cup"


def test_reembed_cli_refuses_an_unknown_encoder_and_a_face_encoder(database_url: str) -> None:
    runner = CliRunner()

    unknown = runner.invoke(app, ["memory", "reembed", "--url", database_url, "--encoder", "open_clip:NoSuchNet/x"])
    assert unknown.exit_code == 2
    assert "unknown encoder" in unknown.stderr and "NoSuchNet" in unknown.stderr
    malformed = runner.invoke(app, ["memory", "reembed", "--url", database_url, "--encoder", "clip-l"])
    assert malformed.exit_code == 2 and "open_clip:<model>/<pretrained tag>" in malformed.stderr

    face = runner.invoke(
        app, ["memory", "reembed", "--url", database_url, "--encoder", ENCODER_B, "--from", FACE_ENCODER]
    )
    assert face.exit_code == 2 and "face encoder" in face.stderr


def test_rapbot_help_lists_the_memory_group() -> None:
    result = CliRunner().invoke(app, ["memory", "--help"])
    assert result.exit_code == 0 and "reembed" in result.stdout
