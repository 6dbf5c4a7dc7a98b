"""Messages that mention the bot (and DMs), through dpytest's simulated gateway: a photo gets a
personalised caption with the labelled photo attached, bad input a reply that says why."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord.abc
import discord.ext.test as dpytest
import pytest
from discord.http import MultipartParameters, handle_message_parameters

from bot.discord_bot.app import RapBot, bot_intents
from bot.discord_bot.frontend import Frontend
from worker.client import RapClient
from worker.schemas import Requester


def _keep_text_beside_files(*args: Any, **kwargs: Any) -> MultipartParameters:
    """dpytest reads a sent message's text from the JSON payload, which discord.py leaves empty when
    files go along (the text then travels in the multipart form): put it where dpytest looks."""
    params = handle_message_parameters(*args, **kwargs)
    if params.payload is None and params.multipart:
        form = next(part["value"] for part in params.multipart if part["name"] == "payload_json")
        params = params._replace(payload=json.loads(form))
    return params


@pytest.fixture
async def bot(frontend: Frontend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RapBot]:
    monkeypatch.chdir(tmp_path)  # dpytest saves the files the bot sends into the working directory
    monkeypatch.setattr(discord.abc, "handle_message_parameters", _keep_text_beside_files)
    # dpytest builds its members through the member cache: the members intent, which the bot
    # itself does not need, is for the simulated gateway only.
    intents = bot_intents()
    intents.members = True
    rapbot = RapBot(frontend, intents)
    await rapbot.add_rapbot_cogs()
    dpytest.configure(rapbot, members=2)
    await rapbot._async_setup_hook()  # after configure: gives dpytest's state the running loop
    yield rapbot
    await dpytest.empty_queue()


@pytest.fixture
def photo_files(photos: dict[str, bytes], tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, data in photos.items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(data)
        paths[name] = str(path)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    paths["notes"] = str(notes)
    return paths


def guild_requester(bot: RapBot) -> Requester:
    config = dpytest.get_config()
    return Requester(
        platform="discord", user_id=str(config.members[0].id), chat_kind="group", chat_id=str(config.guilds[0].id)
    )


async def test_a_mention_with_a_photo_gets_a_caption_naming_what_it_recognises(
    bot: RapBot, rap_client: RapClient, photo_files: dict[str, str], photos: dict[str, bytes]
) -> None:
    assert bot.user is not None
    who = guild_requester(bot)
    stored = await rap_client.remember(who, "rocky", "the server's rocket", [photos["rocket"]])
    assert stored.status == "stored"

    await dpytest.message(f"<@{bot.user.id}>", attachments=[photo_files["rocket"]])
    reply = dpytest.get_message()
    assert "recognised: <rocky>" in reply.content
    assert len(reply.attachments) == 1 and reply.attachments[0].filename == "rapbot-answer.jpg"

    await dpytest.message(f"<@{bot.user.id}> what is <rocky> doing?", attachments=[photo_files["rocket"]])
    assert "recognised: <rocky>" in dpytest.get_message().content

    await dpytest.message(f"what does <rocky> do? <@{bot.user.id}>")
    text_only = dpytest.get_message()
    assert text_only.content and text_only.attachments == []


async def test_messages_that_do_not_mention_the_bot_are_ignored(bot: RapBot, photo_files: dict[str, str]) -> None:
    await dpytest.message("look at this", attachments=[photo_files["rocket"]])
    assert dpytest.verify().message().nothing()


async def test_a_mention_with_a_file_that_is_not_a_photo_says_so(bot: RapBot, photo_files: dict[str, str]) -> None:
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> caption this", attachments=[photo_files["notes"]])
    assert "'notes.txt' is not an image" in dpytest.get_message().content


async def test_typed_commands_point_to_the_slash_commands_and_store_nothing(
    bot: RapBot, rap_client: RapClient, photo_files: dict[str, str]
) -> None:
    assert bot.user is not None
    await dpytest.message(f"<@{bot.user.id}> /remember bo: my dog", attachments=[photo_files["rocket"]])
    assert "type /remember" in dpytest.get_message().content
    await dpytest.message(f"<@{bot.user.id}>")
    assert "Mention me with a photo" in dpytest.get_message().content
    assert (await rap_client.list_concepts(guild_requester(bot))).total == 0


async def test_a_dm_needs_no_mention_and_uses_the_users_own_memory(
    bot: RapBot, rap_client: RapClient, photo_files: dict[str, str], photos: dict[str, bytes]
) -> None:
    member = dpytest.get_config().members[0]
    mine = Requester(platform="discord", user_id=str(member.id))
    await rap_client.remember(mine, "bo", "my own rocket", [photos["rocket"]])
    channel = await member.create_dm()
    await dpytest.message("", channel=channel, attachments=[photo_files["rocket"]])
    assert "recognised: <bo>" in dpytest.get_message().content
