"""Hostile photo shapes over Telegram's HTTP path (issue 12): a 40000x1 PNG sent as a photo or as an
image file gets one clear reply with its shape and stores nothing; a 36 MP camera photo sent as a
file (Telegram does not shrink documents) is remembered and captioned, and every photo the bot
uploads back is within the working-copy cap (Telegram itself refuses photos over 20:1 or
10000 px of width + height)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from telegram_harness import Harness

THIN = [(40000, 1), (1, 40000), (10000, 3)]


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo_36mp() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((7360, 4912), Image.Resampling.BICUBIC).save(
        buffer, format="JPEG", quality=90
    )
    return buffer.getvalue()


async def test_thin_photos_are_refused_with_their_shape(bot: Harness) -> None:
    ann = bot.chatter(401)
    for width, height in THIN:
        says = f"This photo is {width}x{height} pixels: too long and thin to look at (at most 20:1)."
        remembered = await bot.send(ann.photo, png((width, height)), caption="/remember strip: a red strip")
        assert says in remembered[0] and "Crop it" in remembered[0], remembered
        as_file = await bot.send(ann.document, png((width, height)), "image/png", "strip.png")
        assert says in as_file[0], as_file
    assert "I remember nothing" in (await bot.send(ann.text, "/concepts"))[0]
    assert not bot.api.calls_to("sendPhoto", ann.chat_id)


async def test_a_36mp_file_is_remembered_and_captioned(bot: Harness, photo_36mp: bytes) -> None:
    ann = bot.chatter(402)
    remembered = await bot.send(ann.photo, photo_36mp, caption="/remember astro: an astronaut")
    if not any("remembered <astro>" in text for text in remembered):
        # Several boxes: the bot asked which one (a photo with numbered boxes and buttons).
        remembered = await bot.send(ann.text, "/choose whole")
    assert any("remembered <astro>" in text for text in remembered), remembered
    ann.document(photo_36mp, "image/jpeg", "astronaut.jpg")
    await bot.api.wait_for(
        lambda api: any("recognised:" in text for text in api.sent_texts(ann.chat_id)), what="a caption"
    )
    uploads = [data for call in bot.api.calls_to("sendPhoto", ann.chat_id) for data in call.files.values()]
    assert uploads
    for data in uploads:
        with Image.open(io.BytesIO(data)) as image:
            assert max(image.size) <= 2048 and max(image.size) / min(image.size) <= 20, image.size
