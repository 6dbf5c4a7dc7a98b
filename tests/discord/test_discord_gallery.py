"""/gallery on Discord, through the real command tree: a link button to this chat's memory in the
web gallery (the user's own in a DM, the server's in a server), or a clear reply without one."""

from __future__ import annotations

import pytest
from discord_gateway import FakeDiscord, Person, Seen, snowflake

from bot.discord_bot.app import RapBot
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.settings import DiscordSettings
from worker.client import RapClient

GALLERY = "https://gallery.example.org"


async def gateway_with(settings: DiscordSettings, client: RapClient) -> FakeDiscord:
    bot = RapBot(Frontend.create(settings, client))
    await bot.add_rapbot_cogs()
    return await FakeDiscord.start(bot)


async def test_gallery_is_a_link_button_to_this_chats_memory(
    discord_settings: DiscordSettings, rap_client: RapClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPBOT_WEB_PUBLIC_URL", GALLERY)
    gateway = await gateway_with(discord_settings, rap_client)
    alice, server = Person(), snowflake()

    in_dm = await gateway.invoke(alice, "gallery")
    assert isinstance(in_dm, Seen) and in_dm.content == f"This chat's memory as a photo gallery: {GALLERY}/m/me"
    [button] = in_dm.buttons
    assert button["url"] == f"{GALLERY}/m/me" and button["style"] == 5  # a link button: no custom id to press

    in_server = await gateway.invoke(alice, "gallery", server)
    assert isinstance(in_server, Seen) and [b["url"] for b in in_server.buttons] == [f"{GALLERY}/m/g{server}"]


async def test_gallery_without_a_gallery_says_so(
    discord_settings: DiscordSettings, rap_client: RapClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAPBOT_WEB_PUBLIC_URL", raising=False)
    gateway = await gateway_with(discord_settings, rap_client)
    seen = await gateway.invoke(Person(), "gallery")
    assert isinstance(seen, Seen) and str(seen.content).startswith("The photo gallery is not set up")
    assert seen.buttons == [] and seen.ephemeral
