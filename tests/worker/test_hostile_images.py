"""Hostile photo shapes cost a bounded amount (issue 12): a 40000x1 PNG of 200 bytes is refused
from its header with the shape in the message and nothing stored; a real-size 36 MP photo is
answered from a working copy no longer than RAPBOT_MAX_PHOTO_SIDE, and no network, crop or
annotated photo ever gets more than that. What the networks receive is measured with spies on the
real tiny networks (they record and delegate; nothing is faked)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image

import model.generator as generator_module
from model.bounds import within_bounds
from model.encoder import ClipEncoder
from model.generator import pad_to_square
from worker.domain.images import decode_image
from worker.errors import BAD_IMAGE, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}
THIN = [(40000, 1), (1, 40000), (10000, 3), (10000, 1)]


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(image: Image.Image, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **params)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo_36mp() -> bytes:
    """skimage's astronaut at a real camera's 36 MP (7360x4912), as a JPEG."""
    from skimage import data

    return jpeg(Image.fromarray(data.astronaut()).resize((7360, 4912), Image.Resampling.BICUBIC))


def shape(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


# ---- the decode step --------------------------------------------------------------------------


@pytest.mark.parametrize("size", THIN)
def test_thin_photos_are_refused_from_the_header_with_their_shape(size: tuple[int, int]) -> None:
    data = png(size)
    assert len(data) < 300  # a few hundred bytes that used to cost gigabytes
    started = time.monotonic()
    with pytest.raises(RapError) as err:
        decode_image(data, **LIMITS)
    assert time.monotonic() - started < 1
    assert err.value.code == BAD_IMAGE
    width, height = size
    assert err.value.message == (
        f"This photo is {width}x{height} pixels: too long and thin to look at (at most 20:1). "
        "Crop it and send it again."
    )


def test_the_aspect_limit_is_inclusive_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert decode_image(png((2000, 100)), **LIMITS).size == (2000, 100)  # exactly 20:1
    with pytest.raises(RapError, match="2001x100"):
        decode_image(png((2001, 100)), **LIMITS)
    assert decode_image(png((2001, 100)), **LIMITS, max_aspect=25).size == (2001, 100)
    monkeypatch.setenv("RAPBOT_MAX_PHOTO_ASPECT", "2")
    with pytest.raises(RapError, match=r"at most 2:1"):
        decode_image(png((300, 100)), **LIMITS)
    monkeypatch.setenv("RAPBOT_MAX_PHOTO_SIDE", "256")
    assert decode_image(png((200, 120)), **LIMITS).size == (200, 120)
    assert decode_image(png((400, 300)), **LIMITS).size == (256, 192)


def test_a_36mp_photo_becomes_a_bounded_working_copy(photo_36mp: bytes) -> None:
    assert shape(photo_36mp) == (7360, 4912)
    image = decode_image(photo_36mp, **LIMITS)
    assert image.size == (2048, 1367) and image.mode == "RGB"
    assert decode_image(photo_36mp, **LIMITS, max_side=1000).size == (1000, 667)


def test_exif_rotation_applies_to_the_working_copy() -> None:
    wide = Image.new("RGB", (6000, 2000), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    upright = decode_image(jpeg(wide, exif=exif), **LIMITS)
    assert upright.size == (683, 2048)


def test_settings_have_safe_defaults() -> None:
    settings = WorkerSettings()
    assert settings.max_photo_aspect == 20.0 and settings.max_photo_side == 2048
    with pytest.raises(ValueError):
        WorkerSettings(max_photo_aspect=0.5)
    with pytest.raises(ValueError):
        WorkerSettings(max_photo_side=10)


# ---- through the pipeline, measuring what the networks get ------------------------------------


@dataclass
class Seen:
    detector: list[tuple[int, int]] = field(default_factory=list)
    clip: list[tuple[int, int]] = field(default_factory=list)
    clip_tensors: list[tuple[int, ...]] = field(default_factory=list)
    squares: list[tuple[int, int]] = field(default_factory=list)

    def all_sizes(self) -> list[tuple[int, int]]:
        return self.detector + self.clip + self.squares


@pytest.fixture
def seen(tiny_models: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seen]:
    """Record the size of every image the real networks' preprocessing receives."""
    record = Seen()
    detector = tiny_models.detector
    real_detect = detector.detect_batch

    def detect_batch(images: Any, *args: Any, **kwargs: Any) -> Any:
        record.detector.extend(image.size for image in images)
        return real_detect(images, *args, **kwargs)

    monkeypatch.setattr(detector, "detect_batch", detect_batch)
    encoder = tiny_models.encoder
    assert isinstance(encoder, ClipEncoder)
    loaded = encoder.loaded
    real_preprocess = loaded.preprocess

    def preprocess(image: Image.Image) -> Any:
        tensor = real_preprocess(image)
        record.clip.append(image.size)
        record.clip_tensors.append(tuple(tensor.shape))
        return tensor

    monkeypatch.setattr(loaded, "preprocess", preprocess)

    def square(image: Image.Image, fill: tuple[int, int, int], *args: Any, **kwargs: Any) -> Image.Image:
        out = pad_to_square(image, fill, *args, **kwargs)
        record.squares.append(out.size)
        return out

    monkeypatch.setattr(generator_module, "pad_to_square", square)
    yield record


async def test_thin_photos_are_refused_and_nothing_is_stored(client: LocalClient, alice: Requester, seen: Seen) -> None:
    for size in THIN:
        width, height = size
        for call in (
            client.remember(alice, "strip", "a red strip", [png(size)]),
            client.answer(alice, png(size), "what is this?"),
            client.remember(alice, "album", "an album", [png((64, 48)), png(size)]),
        ):
            with pytest.raises(RapError) as err:
                await call
            assert err.value.code == BAD_IMAGE and f"{width}x{height} pixels" in err.value.message
    assert (await client.list_concepts(alice)).total == 0
    assert seen.all_sizes() == []  # refused before any network ran


async def test_a_36mp_photo_is_remembered_and_answered_within_the_cap(
    client: LocalClient, alice: Requester, seen: Seen, photo_36mp: bytes
) -> None:
    result = await client.remember(alice, "astro", "an astronaut", [photo_36mp])
    if result.status == "candidates":
        assert result.annotated_image and max(shape(result.annotated_image)) <= 2048
        assert result.pending_id
        result = await client.choose(alice, result.pending_id, 1)  # a crop of the working copy
    assert result.status == "stored"
    whole = await client.remember(alice, "astro2", "the whole photo", [photo_36mp])
    if whole.status == "candidates":
        assert whole.pending_id
        whole = await client.choose(alice, whole.pending_id, "whole")
    assert whole.status == "stored"
    for name in ("astro", "astro2"):
        for crop in (await client.show(alice, name)).images:
            assert max(shape(crop)) <= 2048  # a stored crop is never bigger than the working copy
    assert max(shape((await client.show(alice, "astro2")).images[0])) == 2048

    answer = await client.answer(alice, photo_36mp, "what is <astro> doing?")
    assert answer.text.strip() or answer.recognised
    if answer.annotated_image is not None:
        assert max(shape(answer.annotated_image)) <= 2048

    assert seen.detector and seen.clip and seen.squares
    for size in seen.all_sizes():
        assert max(size) <= 2048 and within_bounds(size), size
    assert (2048, 1367) in seen.detector  # the working copy, not the 7360x4912 original
    assert len(set(seen.clip_tensors)) == 1
