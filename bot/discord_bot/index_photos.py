"""Discord's side of the photo index (docs/index.md): the /index and /find slash commands, and a
listener that sends every image posted in a server channel or DM whose memory turned the index on
to the worker's index_photo, found again by the message's jump URL. In servers, messages that do
not mention the bot carry their attachments only with the Message Content intent
(RAPBOT_DISCORD_PHOTO_INDEX=true asks for it; enable it in the Developer Portal too)."""

from __future__ import annotations

import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import grammar
from bot.discord_bot.attachments import looks_like_image, read_image
from bot.discord_bot.frontend import Frontend
from bot.indexing import index_later

log = logging.getLogger(__name__)

IndexAction = Literal["status", "on", "off", "delete"]


class PhotoIndexCommands(commands.Cog):
    """/index, /find, and the photos posted while a chat's index is on."""

    def __init__(self, frontend: Frontend) -> None:
        self.frontend = frontend

    @app_commands.command(name="index", description="Index the photos posted here, to /find them later.")
    @app_commands.describe(
        action="on, off (moderators in a server), delete, or status",
        days="How many days an indexed photo is kept (moderators)",
        thumbnails="Keep a small thumbnail of each indexed photo (moderators)",
    )
    async def index(
        self,
        interaction: discord.Interaction,
        action: IndexAction = "status",
        days: app_commands.Range[int, 1, grammar.MAX_INDEX_DAYS] | None = None,
        thumbnails: bool | None = None,
    ) -> None:
        command = grammar.PhotoIndex(action)
        if days is not None:
            command = grammar.PhotoIndex("keep", days)
        elif thumbnails is not None:
            command = grammar.PhotoIndex("thumbnails", int(thumbnails))
        await self.frontend.run(interaction, command)

    @app_commands.command(name="find", description="Find photos posted here: bo, bo at the beach, red bicycle.")
    @app_commands.describe(query="A name, a name and more words, or any words")
    async def find(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, grammar.MAX_QUESTION_CHARS]
    ) -> None:
        await self.frontend.run(interaction, grammar.Find(" ".join(query.split())))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        images = [attachment for attachment in message.attachments if looks_like_image(attachment)]
        if not images:
            return
        guild_id = message.guild.id if message.guild is not None else None
        who = self.frontend.requester(message.author, guild_id)
        limit = self.frontend.settings.max_attachment_bytes

        async def fetch() -> list[bytes]:
            found = []
            for attachment in images:
                try:
                    found.append(await read_image(attachment, limit))
                except Exception:  # one unreadable attachment: the others are still indexed
                    log.info("an attachment could not be read for the photo index", exc_info=True)
            return found

        locations = [message.jump_url] * len(images)
        # No posted_at: the gateway delivers messages live (it replays none from before a reconnect).
        index_later(self.frontend.client, who, fetch, locations, f"index:discord:{message.id}")
