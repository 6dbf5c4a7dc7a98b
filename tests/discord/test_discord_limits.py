"""Discord's side of the input limits: option ranges Discord enforces before the bot is called
(the grammar's limits), an over-long question in a mention, a reply that cannot be sent after the
work was done, and start-up failures as one line."""

from __future__ import annotations

from unittest.mock import AsyncMock

import discord
import discord_fakes as fake
import pytest

from bot.discord_bot.app import build_bot, run
from bot.discord_bot.commands import MemoryCommands
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.mentions import MentionHandler
from bot.discord_bot.settings import DiscordSettings
from bot.grammar import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_PAGE, MAX_QUESTION_CHARS


def options(bot: discord.ext.commands.Bot, command: str) -> dict[str, dict[str, object]]:
    found = bot.tree.get_command(command)
    assert isinstance(found, discord.app_commands.Command)
    return {option["name"]: option for option in found.to_dict(bot.tree)["options"]}


async def test_numeric_and_text_options_carry_the_grammars_ranges() -> None:
    bot = build_bot(DiscordSettings(sync_commands=False), AsyncMock())
    await bot.add_rapbot_cogs()
    page = options(bot, "concepts")["page"]
    assert (page["min_value"], page["max_value"]) == (1, MAX_PAGE)
    assert options(bot, "ask")["question"]["max_length"] == MAX_QUESTION_CHARS
    assert options(bot, "remember")["description"]["max_length"] == MAX_DESCRIPTION_CHARS
    assert options(bot, "edit")["description"]["max_length"] == MAX_DESCRIPTION_CHARS
    assert options(bot, "remember")["name"]["max_length"] == MAX_NAME_CHARS
    memory = bot.tree.get_command("memory")
    assert isinstance(memory, discord.app_commands.Group)
    threshold = next(c for c in memory.commands if c.name == "threshold").to_dict(bot.tree)["options"][0]
    assert (threshold["min_value"], threshold["max_value"]) == (0.0, 1.0)


async def test_an_over_long_question_in_a_mention_says_so(frontend: Frontend) -> None:
    text = "what is " + "a" * MAX_QUESTION_CHARS
    out = await MentionHandler(AsyncMock(), frontend).respond(fake.message(fake.user(), text), text)
    assert out.content.startswith("that question is too long") and "slash" not in out.content


async def test_a_reply_that_cannot_be_sent_does_not_claim_nothing_changed(
    cmds: MemoryCommands, photos: dict[str, bytes]
) -> None:
    alice = fake.user()
    it = fake.interaction(alice)
    image = fake.attachment(photos["rocket"], "photo.jpg")
    it.followup.send.side_effect = [discord.HTTPException(AsyncMock(status=500), "Server Error"), None]
    await cmds.remember.callback(cmds, it, name="bo", description="my dog", image=image)
    told = fake.last(it)
    assert told.ephemeral and "could not send my reply" in told.content
    assert "nothing was changed" not in told.content.lower()
    shown = fake.interaction(alice)
    await cmds.show.callback(cmds, shown, name="bo")
    assert "description: my dog" in fake.last(shown).content, "the concept was stored"


def test_a_malformed_url_ends_the_bot_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPBOT_REDIS_URL", "redis://:pw@127.0.0.1:abc/0")
    with pytest.raises(SystemExit) as ended:
        run(DiscordSettings(token="MTIz.secret-token-value", sync_commands=False))
    message = str(ended.value.code)
    assert message == "rapbot discord: RAPBOT_REDIS_URL has a malformed port: it must be a number from 1 to 65535."
