"""Bad input over HTTP: each gets a clear reply and changes nothing."""

from __future__ import annotations

import pytest
from telegram_harness import Harness
from telegram_updates import Chatter


async def assert_memory_empty(bot: Harness, chatter: Chatter) -> None:
    assert "I remember nothing" in (await bot.send(chatter.text, "/concepts"))[0]


async def test_files_that_are_not_usable_photos(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(301)
    not_image = await bot.send(ann.document, b"%PDF-1.4 not an image", "application/pdf", "report.pdf")
    assert "not an image" in not_image[0]
    assert "Stickers" in (await bot.send(ann.sticker))[0]
    assert "Animations" in (await bot.send(ann.animation))[0]
    located = await bot.send(ann.raw, location={"latitude": 48.85, "longitude": 2.35})
    assert "Send me a photo, or ask a question" in located[0]
    too_big = await bot.send(ann.photo, photos["coffee"], caption="/remember cup: a cup", size=25 * 1024 * 1024)
    assert "too large" in too_big[0] and "20 MB" in too_big[0]
    huge_file = await bot.send(ann.document, photos["coffee"], "image/jpeg", "cup.jpg", size=30 * 1024 * 1024)
    assert "up to 20 MB" in huge_file[0]
    damaged = await bot.send(ann.photo, photos["corrupt"], caption="/remember cup: a cup")
    assert "damaged" in damaged[0] or "cannot be read" in damaged[0], damaged
    assert not bot.api.calls_to("getFile") or all(
        c.params["file_id"] != "sticker1" for c in bot.api.calls_to("getFile")
    ), "stickers are refused before any download"
    await assert_memory_empty(bot, ann)


async def test_image_sent_as_a_file_is_accepted(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(302)
    ann.document(photos["chelsea_png"], "image/png", "cat.png")
    await bot.api.wait_for(lambda api: api.sent_texts(ann.chat_id), what="a caption of the file")
    assert "recognised:" in bot.api.sent_texts(ann.chat_id)[-1]


async def test_malformed_and_unknown_commands(bot: Harness, photos: dict[str, bytes]) -> None:
    ann = bot.chatter(303)
    no_colon = await bot.send(ann.photo, photos["coffee"], caption="/remember cup")
    assert "needs a colon" in no_colon[0] and "usage: /remember" in no_colon[0]
    assert "unknown command /frobnicate" in (await bot.send(ann.text, "/frobnicate"))[0]
    assert "needs a photo" in (await bot.send(ann.text, "/remember cup: a cup"))[0]
    assert "needs a photo" in (await bot.send(ann.text, "/addphoto cup"))[0]
    assert 'There is no "ghost"' in (await bot.send(ann.text, "/show ghost"))[0]
    assert 'There is no "ghost"' in (await bot.send(ann.text, "/rename ghost: casper"))[0]
    assert "not a page number" in (await bot.send(ann.text, "/concepts two"))[0]
    assert "works only in a group" in (await bot.send(ann.text, "/lock"))[0]
    # A group setting in a private chat: the context is said before the bad number is judged.
    assert (await bot.send(ann.text, "/threshold 1.5"))[0] == "/threshold works only in a group chat."
    assert "nothing to choose" in (await bot.send(ann.text, "/choose 2"))[0]
    await assert_memory_empty(bot, ann)


@pytest.mark.parametrize("telegram_settings_overrides", [{"user_rate_limit": 2, "rate_window_s": 600}])
async def test_rate_limit_refuses_a_flood(bot: Harness) -> None:
    ann = bot.chatter(304)
    assert "/remember" in (await bot.send(ann.text, "/help"))[0]
    assert "/remember" in (await bot.send(ann.text, "/help"))[0]
    assert "slow down" in (await bot.send(ann.text, "/help"))[0]
