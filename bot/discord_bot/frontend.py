"""What every Discord entry point shares: settings, the worker client, request limits, and the one
path a slash command takes (limit, check attachments, defer, read, call the worker, reply)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import discord

from bot import replies
from bot.discord_bot import identity, render
from bot.discord_bot.attachments import AttachmentLike, BadAttachment, check_declared, read_image
from bot.discord_bot.reply import InteractionReply, Outgoing
from bot.discord_bot.settings import DiscordSettings
from bot.ratelimit import RequestLimits
from worker.client import RapClient
from worker.errors import RapError
from worker.schemas import Requester

log = logging.getLogger(__name__)

# Given the requester and the bytes of the checked images, produce the reply.
Work = Callable[[Requester, list[bytes]], Awaitable[Outgoing]]


@dataclass
class Frontend:
    settings: DiscordSettings
    client: RapClient
    limits: RequestLimits

    @classmethod
    def create(cls, settings: DiscordSettings, client: RapClient) -> Frontend:
        limits = RequestLimits.create(settings.user_requests_per_minute, settings.guild_requests_per_minute)
        return cls(settings, client, limits)

    def requester(self, user: discord.User | discord.Member, guild_id: int | None) -> Requester:
        return identity.requester(user, guild_id, self.settings.moderator_role)

    def is_moderator(self, user: discord.User | discord.Member) -> bool:
        return identity.is_moderator(user, self.settings.moderator_role)

    def precheck(self, user_id: int, guild_id: int | None, images: Sequence[AttachmentLike]) -> str | None:
        """A message refusing the request before any work, or None. Cheap: no download, no worker call."""
        try:
            for image in images:
                check_declared(image, self.settings.max_attachment_bytes)
        except BadAttachment as err:
            return str(err)
        wait = self.limits.try_acquire(user_id, guild_id)
        if wait is not None:
            return replies.rate_limited(wait)
        return None

    async def read_images(self, images: Sequence[AttachmentLike]) -> list[bytes]:
        return [await read_image(image, self.settings.max_attachment_bytes) for image in images]

    async def run(
        self,
        interaction: discord.Interaction,
        work: Work,
        *,
        private: bool = False,
        images: Sequence[AttachmentLike] = (),
        who: Requester | None = None,
    ) -> None:
        """Refuse bad requests privately before deferring; otherwise defer, do the work, reply."""
        reply = InteractionReply(interaction, private=private and interaction.guild_id is not None)
        refusal = self.precheck(interaction.user.id, interaction.guild_id, images)
        if refusal is not None:
            await reply.error(refusal)
            return
        await reply.defer()
        requester = who or self.requester(interaction.user, interaction.guild_id)
        try:
            data = await self.read_images(images)
            out = await work(requester, data)
        except BadAttachment as err:
            await reply.error(str(err))
            return
        except RapError as err:
            await reply.error(render.text(replies.error(err)))
            return
        except Exception:
            # Never show the exception's text: it may hold paths, URLs or secrets.
            log.exception("command %s failed", getattr(interaction.command, "name", "?"))
            await reply.error(replies.unexpected_error())
            return
        try:
            await reply.send(out)
        except discord.HTTPException:
            # The work is done (a change may have been made): say only that the reply failed.
            log.exception("command %s: the reply could not be sent", getattr(interaction.command, "name", "?"))
            await reply.error(replies.unconfirmed_error(None, sending=True))
