"""What every Discord entry point shares: settings, the worker client, request limits, and the one
path a slash command takes (limit, check attachments, defer, dispatch, draw the reply). The slash
commands only turn their options into a grammar command; bot.dispatch does the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import discord

from bot import replies
from bot.discord_bot import identity, render
from bot.discord_bot.attachments import AttachmentLike, BadAttachment, check_declared, read_image
from bot.discord_bot.reply import InteractionReply, Outgoing
from bot.discord_bot.settings import DiscordSettings
from bot.discord_bot.views import CandidateView, ConfirmView, FeedbackView
from bot.dispatch import (
    CandidateButtons,
    ConfirmButtons,
    Context,
    FeedbackButtons,
    HeldChoice,
    KeptAnswers,
    LinkButton,
    Reply,
    Surface,
    confirmed,
    dispatch,
    feedback_given,
    private_reply,
)
from bot.grammar import Choose, Command
from bot.ratelimit import RequestLimits
from bot.web.settings import WebSettings
from worker.client import Choice, RapClient
from worker.schemas import Requester

log = logging.getLogger(__name__)

# Discord shows pages by the /concepts option, never with buttons; a typed /choose does not exist there.
DISCORD_SURFACE = Surface(buttons=True, typed_commands=False)
PAGE_SIZE = 20


@dataclass
class Frontend:
    settings: DiscordSettings
    client: RapClient
    limits: RequestLimits
    gallery_url: str | None = None  # the web gallery's public URL (RAPBOT_WEB_PUBLIC_URL); None: not set up
    answers: KeptAnswers = field(default_factory=KeptAnswers)  # the last photo answer per chat and user, for /yes

    @classmethod
    def create(cls, settings: DiscordSettings, client: RapClient) -> Frontend:
        limits = RequestLimits.create(
            settings.user_requests_per_minute, settings.guild_requests_per_minute, namespace="discord"
        )
        return cls(settings, client, limits, WebSettings().announced_url)

    def requester(self, user: discord.User | discord.Member, guild_id: int | None) -> Requester:
        return identity.requester(user, guild_id, self.settings.moderator_role)

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

    def context(
        self,
        user: discord.User | discord.Member,
        guild_id: int | None,
        images: Sequence[AttachmentLike] = (),
        request_id: str | None = None,
        member_name: Callable[[str], str] = str,
    ) -> Context:
        """The dispatcher's context; the attachments are downloaded only if the command needs them."""

        async def fetch() -> list[bytes]:
            return await self.read_images(images)

        who = self.requester(user, guild_id)
        return Context(
            who,
            self.client,
            fetch,
            PAGE_SIZE,
            HeldChoice(),
            DISCORD_SURFACE,
            request_id,
            member_name,
            answered=self.answers.of((guild_id, user.id)),
            gallery_url=self.gallery_url,
        )

    async def run(
        self,
        interaction: discord.Interaction,
        command: Command,
        *,
        images: Sequence[AttachmentLike] = (),
        member_name: Callable[[str], str] = str,
    ) -> None:
        """Refuse bad requests privately before deferring; otherwise defer, dispatch, draw the reply."""
        reply = InteractionReply(interaction, private=private_reply(command) and interaction.guild_id is not None)
        refusal = self.precheck(interaction.user.id, interaction.guild_id, images)
        if refusal is not None:
            await reply.error(refusal)
            return
        await reply.defer()
        context = self.context(interaction.user, interaction.guild_id, images, str(interaction.id), member_name)
        try:
            answer = await dispatch(command, context)
            out = self.outgoing(answer, interaction.user.id, context)
        except BadAttachment as err:
            await reply.error(str(err))
            return
        except Exception:
            # Never show the exception's text: it may hold paths, URLs or secrets.
            log.exception("command %s failed", getattr(interaction.command, "name", "?"))
            await reply.error(replies.unexpected_error())
            return
        if answer.refused:
            await reply.error(out.content)
            return
        try:
            await reply.send(out)
        except discord.HTTPException:
            # The work is done (a change may have been made): say only that the reply failed.
            log.exception("command %s: the reply could not be sent", getattr(interaction.command, "name", "?"))
            await reply.error(replies.unconfirmed_error(None, sending=True))

    def outgoing(self, answer: Reply, owner_id: int, context: Context) -> Outgoing:
        """A neutral reply as Discord message parts: escaped text, files, and buttons as a View."""
        files = [render.file(photo.data, photo.name) for photo in answer.photos[: render.FILES_LIMIT]]
        content = render.text(answer.text)
        if answer.file is not None:
            limit = self.settings.max_upload_bytes
            if len(answer.file.data) > limit:
                content = (
                    f"Your export is {len(answer.file.data) / 1e6:.1f} MB, more than Discord lets me upload "
                    f"({limit / 1e6:.1f} MB). Ask the bot's operator for it."
                )
            else:
                files.append(render.file(answer.file.data, answer.file.name))
        return Outgoing(content, files, view_for(answer, owner_id, context))


def view_for(answer: Reply, owner_id: int, context: Context) -> discord.ui.View | None:
    """Buttons act for the asker only, through the same dispatcher as the command."""
    match answer.buttons:
        case CandidateButtons(pending_id, candidates, name):

            async def choose(choice: Choice) -> str:
                chosen = replace(context, pending=HeldChoice.of(pending_id, name))
                return (await dispatch(Choose(choice), chosen)).text

            return CandidateView(owner_id, candidates, choose)
        case ConfirmButtons(action, yes_label):

            async def go_ahead() -> str:
                return (await confirmed(action, context)).text

            return ConfirmView(owner_id, go_ahead, confirm_label=(yes_label[:1].upper() + yes_label[1:])[:80])
        case FeedbackButtons(offers):

            async def teach(feedback_id: str, correct: bool) -> tuple[str, bool]:
                outcome = await feedback_given(feedback_id, correct, context)
                return outcome.text, outcome.refused

            return FeedbackView(owner_id, offers, teach)
        case LinkButton(label, url):
            link = discord.ui.View(timeout=None)
            link.add_item(discord.ui.Button(style=discord.ButtonStyle.link, label=label, url=url))
            return link
    return None  # pages are asked for with the /concepts option
