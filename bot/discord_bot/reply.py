"""Replying to one interaction: results publicly or privately, errors always privately.

Discord fixes a reply's visibility when it is deferred. An error after a public defer therefore
deletes the public "thinking…" message and sends the error as a private followup."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

log = logging.getLogger(__name__)


@dataclass
class Outgoing:
    """What to show the user: text, optional image files, optional buttons."""

    content: str
    files: list[discord.File] = field(default_factory=list)
    view: discord.ui.View | None = None


def _message_kwargs(files: Sequence[discord.File], view: discord.ui.View | None) -> dict[str, Any]:
    # discord.py treats an explicit None view differently from "no view": pass only what is set.
    kwargs: dict[str, Any] = {}
    if files:
        kwargs["files"] = list(files)
    if view is not None:
        kwargs["view"] = view
    return kwargs


class ExpiringView(discord.ui.View):
    """Buttons that say so when they expire, instead of failing when pressed late."""

    # The command's interaction: its original response is the message that carries the buttons.
    interaction: discord.Interaction | None = None
    expired_text = "These buttons expired: nothing was changed."

    async def on_timeout(self) -> None:
        if self.interaction is None:
            return
        try:
            await self.interaction.edit_original_response(content=self.expired_text, view=None, attachments=[])
        except discord.HTTPException:
            log.info("could not mark expired buttons (the message is gone)")


class InteractionReply:
    def __init__(self, interaction: discord.Interaction, *, private: bool) -> None:
        self.interaction = interaction
        self.private = private
        self.deferred = False

    async def defer(self) -> None:
        """Show "thinking…" at once: Discord drops interactions not answered within 3 s."""
        await self.interaction.response.defer(thinking=True, ephemeral=self.private)
        self.deferred = True

    async def send(self, out: Outgoing) -> None:
        kwargs = _message_kwargs(out.files, out.view)
        if isinstance(out.view, ExpiringView):
            out.view.interaction = self.interaction
        if self.deferred:
            await self.interaction.followup.send(out.content, ephemeral=self.private, **kwargs)
        else:
            await self.interaction.response.send_message(out.content, ephemeral=self.private, **kwargs)

    async def error(self, message: str) -> None:
        if not self.deferred:
            await self.interaction.response.send_message(message, ephemeral=True)
            return
        if not self.private:
            try:
                await self.interaction.delete_original_response()
            except discord.HTTPException:
                log.warning("could not delete the public thinking message before a private error")
        await self.interaction.followup.send(message, ephemeral=True)
