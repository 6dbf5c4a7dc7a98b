"""The parts that need no worker: limits, attachment checks, who is asking, intents, settings,
and the commands the bot registers with Discord."""

from __future__ import annotations

import io
import logging
from unittest.mock import AsyncMock, MagicMock

import discord
import discord_fakes as fake
import pytest
from discord import app_commands
from PIL import Image

from bot.discord_bot.app import MissingToken, _serve, bot_intents, build_bot, run
from bot.discord_bot.attachments import BadAttachment, read_image
from bot.discord_bot.identity import requester
from bot.discord_bot.settings import DiscordSettings


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_images_are_read_and_everything_else_refused_with_a_reason() -> None:
    png = _png()
    assert await read_image(fake.attachment(png, "dot.png", "image/png"), 1000) == png
    # No declared type (some clients): the file name and the bytes decide.
    assert await read_image(fake.attachment(png, "dot.png", None), 1000) == png
    with pytest.raises(BadAttachment, match=r"notes\.txt' is not an image"):
        await read_image(fake.attachment(b"hello", "notes.txt", "text/plain"), 1000)
    with pytest.raises(BadAttachment, match="too large"):
        await read_image(fake.attachment(png, "big.png", "image/png", size=5000), 1000)
    with pytest.raises(BadAttachment, match="could not be read as an image"):
        await read_image(fake.attachment(b"<html>nope</html>", "fake.jpg", "image/jpeg"), 1000)


def test_dms_read_the_users_memory_and_servers_the_servers() -> None:
    dm = requester(fake.user(7), None, None)
    assert (dm.platform, dm.user_id, dm.chat_kind, dm.chat_id, dm.moderator) == ("discord", "7", "user", None, False)
    guild = requester(fake.member(7), 99, None)
    assert (guild.chat_kind, guild.chat_id, guild.moderator) == ("group", "99", False)


def test_moderators_have_manage_server_or_the_configured_role() -> None:
    assert requester(fake.member(manage_guild=True), 99, None).moderator
    assert requester(fake.member(roles=("memory keepers",)), 99, "Memory Keepers").moderator
    assert not requester(fake.member(roles=("Memory Keepers",)), 99, None).moderator
    assert not requester(fake.member(roles=("everyone",)), 99, "Memory Keepers").moderator


def test_the_bot_asks_for_no_privileged_intent() -> None:
    intents = bot_intents()
    assert not intents.message_content and not intents.members and not intents.presences
    assert intents.guilds and intents.guild_messages and intents.dm_messages


def test_the_token_stays_out_of_reprs_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RAPBOT_DISCORD_TOKEN", "MTIz.secret-token-value")
    monkeypatch.setenv("RAPBOT_DISCORD_DEV_GUILD_ID", "1234")
    monkeypatch.setenv("RAPBOT_DISCORD_MODERATOR_ROLE", "Mods")
    settings = DiscordSettings()
    assert settings.token is not None and settings.token.get_secret_value() == "MTIz.secret-token-value"
    assert (settings.dev_guild_id, settings.moderator_role) == (1234, "Mods")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    assert "secret-token-value" not in repr(settings) + str(settings) + caplog.text


async def test_every_command_is_registered_and_moderation_is_hidden_from_members() -> None:
    bot = build_bot(DiscordSettings(sync_commands=False), AsyncMock())
    await bot.add_rapbot_cogs()
    names = {command.name for command in bot.tree.get_commands()}
    assert names >= {
        "remember", "addphoto", "ask", "caption", "concepts", "show", "edit",
        "rename", "forget", "share", "export", "forgetme", "memory",
    }  # fmt: skip
    menus = bot.tree.get_commands(type=discord.AppCommandType.message)
    assert [menu.name for menu in menus] == ["Ask rapbot"]
    memory = bot.tree.get_command("memory")
    assert isinstance(memory, discord.app_commands.Group)
    payload = memory.to_dict(bot.tree)
    assert payload["default_member_permissions"] == discord.Permissions(manage_guild=True).value
    assert payload["contexts"] == [0]  # servers only
    assert {sub.name for sub in memory.commands} == {"lock", "unlock", "threshold", "autocaption", "audit", "purge"}
    # Names autocomplete from the chat's memory.
    show = bot.tree.get_command("show")
    assert isinstance(show, discord.app_commands.Command)
    assert show.to_dict(bot.tree)["options"][0]["autocomplete"] is True


@pytest.mark.parametrize("dev_guild", [None, 4242])
async def test_commands_sync_globally_or_to_the_development_guild(dev_guild: int | None) -> None:
    bot = build_bot(DiscordSettings(sync_commands=True, dev_guild_id=dev_guild), AsyncMock())
    sync = AsyncMock(return_value=[])
    bot.tree.sync = sync  # type: ignore[method-assign]
    await bot.setup_hook()
    if dev_guild is None:
        sync.assert_awaited_once_with()
    else:
        assert sync.await_args is not None and sync.await_args.kwargs["guild"].id == dev_guild
        assert {c.name for c in bot.tree.get_commands(guild=discord.Object(dev_guild))} >= {"remember", "memory"}


def test_without_a_token_the_bot_explains_what_to_set() -> None:
    with pytest.raises(SystemExit) as stopped:
        run(DiscordSettings(token=None))
    assert "RAPBOT_DISCORD_TOKEN" in str(stopped.value.code)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (app_commands.NoPrivateMessage(), "works only in a server"),
        (app_commands.MissingPermissions(["manage_guild"]), "don't have the permission"),
        (
            app_commands.TransformerError("@ghost", discord.AppCommandOptionType.user, AsyncMock()),
            "'@ghost' is not a valid user",
        ),
        (app_commands.CommandInvokeError(AsyncMock(), RuntimeError("postgres://user:pw@host")), "went wrong"),
    ],
)
async def test_errors_around_commands_get_a_private_reply_without_internals(
    error: app_commands.AppCommandError, expected: str
) -> None:
    bot = build_bot(DiscordSettings(sync_commands=False), AsyncMock())
    for done in (False, True):
        it = fake.interaction(fake.user())
        it.response.is_done = MagicMock(return_value=done)
        await bot.tree.on_error(it, error)
        said = fake.last(it)
        assert said.ephemeral and expected in said.content and "pw@host" not in said.content


async def test_a_rejected_token_names_the_setting_and_is_never_logged(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Against a local stand-in for Discord's API that answers 401 to the login."""
    from aiohttp import web

    seen_tokens: list[str] = []

    async def me(request: web.Request) -> web.Response:
        seen_tokens.append(request.headers.get("Authorization", ""))
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    api = web.Application()
    api.router.add_get("/api/v10/users/@me", me)
    runner = web.AppRunner(api)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    monkeypatch.setenv("RAPBOT_DATABASE_URL", database_url)
    monkeypatch.delenv("RAPBOT_REDIS_URL", raising=False)
    token = "MTIzNDU2.rejected-secret-token"
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(MissingToken) as refused:
            await _serve(DiscordSettings(), token)
    finally:
        await runner.cleanup()
    assert seen_tokens == [f"Bot {token}"]  # the login really happened
    assert "RAPBOT_DISCORD_TOKEN" in str(refused.value)
    assert "rejected-secret-token" not in str(refused.value) + caplog.text
