"""The photo index on Discord, through the real command tree and discord.py's own message parser
(docs/index.md): a moderator turns it on with /index, images posted in the channel (not mentioning
the bot) are indexed with their jump URLs, /find finds a concept and a text query, forget and
/forgetme follow, another server sees nothing, members cannot switch it."""

from __future__ import annotations

from discord_gateway import FakeDiscord, Person, Seen, Upload, snowflake

from bot.discord_bot.app import RapBot
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.settings import DiscordSettings
from worker.client import RapClient


async def said(gateway: FakeDiscord, who: Person, command: str, guild: int | None = None, **options: object) -> str:
    seen = await gateway.invoke(who, command, guild, **options)
    assert isinstance(seen, Seen), seen
    return str(seen.content)


async def test_index_find_and_forget_in_a_server(
    discord_settings: DiscordSettings, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    bot = RapBot(Frontend.create(discord_settings.model_copy(update={"photo_index": True}), rap_client))
    assert bot.intents.message_content, "the photo index asks for the Message Content intent"
    await bot.add_rapbot_cogs()
    gateway = await FakeDiscord.start(bot)
    server, elsewhere = snowflake(), snowflake()
    mod, member, stranger = Person(manage_guild=True), Person(), Person(manage_guild=True)

    assert "Only moderators can turn the photo index on or off" in await said(
        gateway, member, "index", server, action="on"
    )
    stored = await said(
        gateway, mod, "remember", server, name="bo", description="our cat", image=Upload(photos["chelsea"])
    )
    if "Which one" in stored:
        prompt = gateway.seen[-1]
        stored = str((await gateway.press(mod, prompt, "Whole photo", server)).content)
    assert "remembered <bo>" in stored, stored
    await gateway.post(member, server, Upload(photos["coffee"]))  # before the index was on: never indexed
    assert (await said(gateway, mod, "index", server, action="on")).startswith("photo index: on")

    cat = await gateway.post(member, server, Upload(photos["chelsea"]))
    cup = await gateway.post(member, server, Upload(photos["coffee"], "cup.jpg"))
    assert cat.jump_url.startswith(f"https://discord.com/channels/{server}/")
    assert " 2 photos" in await said(gateway, member, "index", server)

    found = await said(gateway, member, "find", server, query="bo")
    assert found.startswith("<bo> was seen in") and cat.jump_url in found, found
    text = await said(gateway, member, "find", server, query="a cup of coffee")
    assert text.startswith("Photos like “a cup of coffee”") and cat.jump_url in text and cup.jump_url in text

    assert "off and empty" in await said(gateway, stranger, "find", elsewhere, query="a cup of coffee")

    forget = await gateway.invoke(mod, "forget", server, name="bo")
    assert isinstance(forget, Seen)
    await gateway.press(mod, forget, "Forget bo", server)
    assert 'There is no "bo"' in await said(gateway, member, "find", server, query="<bo>")
    assert "<bo>" not in await said(gateway, member, "find", server, query="a cat")

    # /forgetme (in a DM) removes the photos the member posted in the server's index.
    erase = await gateway.invoke(member, "forgetme")
    assert isinstance(erase, Seen)
    await gateway.press(member, erase, "Erase everything")
    assert " 0 photos" in await said(gateway, mod, "index", server)
    assert "photo index: off" in await said(gateway, mod, "index", server, action="off")


async def test_without_the_intent_only_dms_are_indexed(
    discord_settings: DiscordSettings, rap_client: RapClient, photos: dict[str, bytes]
) -> None:
    bot = RapBot(Frontend.create(discord_settings, rap_client))
    await bot.add_rapbot_cogs()
    gateway = await FakeDiscord.start(bot)
    alice = Person()
    assert (await said(gateway, alice, "index", action="on")).startswith("photo index: on")
    assert "kept 30 days" in await said(gateway, alice, "index", days=30)
    posted = await gateway.post(alice, None, Upload(photos["coffee"]))
    assert posted.jump_url in await said(gateway, alice, "find", query="a cup")
