"""Messages: in a server, a message that @mentions the bot; in a DM, any message. A photo alone gets
a personalised caption, a photo with text an answer about it, text alone an answer from memory.

Discord sends the content and attachments of these messages without the privileged message-content
intent (mentions of the bot and DMs are exempt), so the bot never asks for that intent."""

from __future__ import annotations

import logging
import re

import discord
from discord.ext import commands

from bot import replies
from bot.discord_bot import render
from bot.discord_bot.attachments import BadAttachment, first_image
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.reply import Outgoing
from bot.dispatch import dispatch
from bot.grammar import ParseError, Question, TooLong, parse

log = logging.getLogger(__name__)

HOW_TO = "Mention me with a photo for a caption, add a question to ask about it, or ask about <name> alone."


def _without_mentions_of(content: str, user_id: int) -> str:
    return " ".join(re.sub(rf"<@!?{user_id}>", " ", content).split())


class MentionHandler(commands.Cog):
    def __init__(self, bot: commands.Bot, frontend: Frontend) -> None:
        self.bot = bot
        self.frontend = frontend

    def _addressed_to_me(self, message: discord.Message) -> bool:
        me = self.bot.user
        if me is None or message.author.bot:
            return False
        return message.guild is None or any(user.id == me.id for user in message.mentions)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not self._addressed_to_me(message):
            return
        assert self.bot.user is not None  # checked by _addressed_to_me
        text = _without_mentions_of(message.content, self.bot.user.id)
        out = await self.respond(message, text)
        if out.files:
            await message.reply(out.content, files=out.files, mention_author=False)
        else:
            await message.reply(out.content, mention_author=False)

    async def respond(self, message: discord.Message, text: str) -> Outgoing:
        """The reply to one message; bad input gets a message saying what to send, and changes nothing."""
        attachments = list(message.attachments)
        image = first_image(attachments)
        if image is None and attachments:
            return Outgoing(f"'{attachments[0].filename}' is not an image. Please attach a photo.")
        if image is None and not text:
            return Outgoing(HOW_TO)
        slash_hint = _slash_hint(text)
        if slash_hint is not None:
            return Outgoing(slash_hint)
        guild_id = message.guild.id if message.guild is not None else None
        refusal = self.frontend.precheck(message.author.id, guild_id, [image] if image else [])
        if refusal is not None:
            return Outgoing(refusal)
        context = self.frontend.context(message.author, guild_id, [image] if image else [])
        try:
            async with message.channel.typing():
                reply = await dispatch(Question(text), context)
        except BadAttachment as err:
            return Outgoing(str(err))
        except Exception:
            log.exception("answering a message failed")
            return Outgoing(replies.unexpected_error())
        return Outgoing(render.text(reply.text), [render.file(p.data, p.name) for p in reply.photos])


def _slash_hint(text: str) -> str | None:
    """Typed commands are not read from messages: point to the slash command instead."""
    try:
        command = parse(text)
    except TooLong as err:  # an over-long question: say so, it is not a command
        return err.message
    except ParseError:
        return "Commands work as Discord slash commands: type / and pick one of mine."
    if isinstance(command, Question):
        return None
    name = text.split()[0].lstrip("/").split("@")[0]
    return f"Use the slash command: type /{name} and fill in its options."
