"""The photo index over the fake Bot API (docs/index.md): a moderator turns it on, photos posted in
the group (not addressed to the bot) are indexed with their t.me links, /find finds a concept and a
text query, forgetting follows, another group sees nothing, members cannot switch it."""

from __future__ import annotations

import asyncio
import re

from telegram_harness import Harness, button_data
from telegram_updates import Chatter

from bot import indexing

GROUP, OTHER = -1005551, -1005552


async def remember_whole(bot: Harness, chatter: Chatter, photo: bytes, caption: str) -> list[str]:
    replies = await bot.send(chatter.photo, photo, caption=caption)
    if any("Which one did you mean?" in r for r in replies):
        buttons = dict(button_data(await bot.last_with_keyboard(chatter.chat_id)))
        replies = await bot.send(chatter.press, {}, buttons["whole photo"])
    return replies


async def indexed(bot: Harness, chatter: Chatter, count: int) -> str:
    """The /index status once the index holds `count` photos (indexing runs in the background)."""
    status = ""
    for _ in range(120):
        await indexing.settle()
        status = (await bot.send(chatter.text, "/index"))[0]
        if f" {count} photo" in status:
            return status
        await asyncio.sleep(0.5)
    raise AssertionError(f"the index never held {count} photos: {status}")


async def test_index_find_and_forget_in_a_group(bot: Harness, photos: dict[str, bytes]) -> None:
    bot.api.chat_members[(GROUP, 301)] = "administrator"
    admin, member = bot.chatter(301, GROUP, "Admin"), bot.chatter(302, GROUP, "Mem")
    stranger = bot.chatter(303, OTHER, "Far")
    bot.api.chat_members[(OTHER, 303)] = "administrator"

    assert "Only moderators can turn the photo index on or off" in (await bot.send(member.text, "/index on"))[0]
    stored = await remember_whole(bot, admin, photos["chelsea"], "/remember bo: our cat")
    assert any("remembered <bo>" in r for r in stored), stored
    assert (await bot.send(admin.text, "/index on"))[0].startswith("photo index: on")

    before = len(bot.api.sent_texts(GROUP))
    posted = [member.photo(photos["chelsea"]), member.photo(photos["coffee"])]  # not addressed to the bot
    await indexed(bot, member, 2)
    said = bot.api.sent_texts(GROUP)[before:]
    assert all(text.startswith("photo index: on") for text in said), "indexing says nothing in the chat"

    links = [f"https://t.me/c/5551/{message['message_id']}" for message in posted]
    found = (await bot.send(member.text, "/find bo"))[0]
    assert found.startswith("<bo> was seen in") and links[0] in found, found
    text = (await bot.send(member.text, "/find a cup of coffee"))[0]
    assert text.startswith("Photos like “a cup of coffee”") and all(link in text for link in links)

    # Another group's members see nothing of it.
    assert "off and empty" in (await bot.send(stranger.text, "/find a cup of coffee"))[0]

    # /forget bo drops its recognitions (Telegram confirms with a button first).
    await bot.send(admin.text, "/forget bo")
    buttons = dict(button_data(await bot.last_with_keyboard(GROUP)))
    await bot.send(admin.press, {}, buttons["forget bo"])
    assert 'There is no "bo"' in (await bot.send(member.text, "/find <bo>"))[0]
    after = (await bot.send(member.text, "/find a cat"))[0]
    assert "<bo>" not in after and len(re.findall(r"https://t\.me/c/5551/", after)) == 2

    off = (await bot.send(admin.text, "/index off"))[0]
    assert "It still holds 2 photos: /index delete removes them." in off
    assert (await bot.send(admin.text, "/index delete"))[0].startswith("Deleted 2 photos")
    assert "off and empty" in (await bot.send(member.text, "/find a cat"))[0]
