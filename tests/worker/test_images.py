"""Bad photos get a clear BAD_IMAGE error and nothing is stored; good ones arrive upright in RGB."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image

from memory.store import MemoryStore
from worker.domain.images import decode_image
from worker.errors import BAD_IMAGE, RapError
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}


def encoded(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose header claims another size: decoding a huge claim for real would need
    gigabytes (a decompression bomb)."""
    png = bytearray(encoded(Image.new("RGB", (8, 8)), "PNG"))
    png[16:24] = struct.pack(">II", width, height)  # IHDR width and height
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))  # the IHDR chunk's CRC
    return bytes(png)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 not a photo at all", "not a photo"),
        (png_claiming(100_000, 100_000), "too many pixels"),
    ],
)
def test_unreadable_photos_are_refused_with_a_clear_message(data: bytes, says: str) -> None:
    with pytest.raises(RapError) as err:
        decode_image(data, **LIMITS)
    assert err.value.code == BAD_IMAGE and says in err.value.message


def test_truncated_jpeg_is_refused(photos: dict[str, bytes]) -> None:
    with pytest.raises(RapError) as err:
        decode_image(photos["cat"][: len(photos["cat"]) // 3], **LIMITS)
    assert err.value.code == BAD_IMAGE and "damaged" in err.value.message


def test_byte_and_pixel_limits(photos: dict[str, bytes]) -> None:
    with pytest.raises(RapError, match="too large"):
        decode_image(photos["cat"], max_bytes=1000, max_pixels=40_000_000)
    with pytest.raises(RapError, match="too many pixels"):
        decode_image(photos["cat"], max_bytes=20_000_000, max_pixels=100 * 100)


def test_exif_rotation_and_modes_become_upright_rgb() -> None:
    wide = Image.new("RGB", (60, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    rotated = decode_image(encoded(wide, "JPEG", exif=exif), **LIMITS)
    assert rotated.size == (20, 60) and rotated.mode == "RGB"

    transparent = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert decode_image(encoded(transparent, "PNG"), **LIMITS).getpixel((5, 5)) == (255, 255, 255)
    for mode in ("L", "P", "CMYK", "I;16"):
        fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
        assert decode_image(encoded(Image.new(mode, (8, 8)), fmt), **LIMITS).mode == "RGB"


async def test_bad_photos_store_nothing(
    store: MemoryStore, tiny_models: Any, alice: Requester, photos: dict[str, bytes]
) -> None:
    client = LocalClient.for_store(store, tiny_models, WorkerSettings(max_photo_pixels=200_000))
    corrupt = photos["coffee"][:2000]
    huge = photos["astronaut"]  # 512x512 = 262 144 pixels, over this client's limit
    for images in ([corrupt], [b"hello"], [huge], [photos["cat"], corrupt]):
        with pytest.raises(RapError) as err:
            await client.remember(alice, "thing", "a thing", images)
        assert err.value.code == BAD_IMAGE
    assert (await client.list_concepts(alice)).total == 0
    with pytest.raises(RapError) as err:
        await client.answer(alice, b"\xff\xd8\xff garbage", "who is this?")
    assert err.value.code == BAD_IMAGE
