"""Buttons: confirming a destructive command, choosing which detected object a photo is about, and
yes / no to what a photo answer recognised."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

import discord

from bot import replies
from bot.discord_bot import render
from bot.discord_bot.reply import ExpiringView
from worker.client import Choice
from worker.errors import RapError
from worker.schemas import Candidate

log = logging.getLogger(__name__)

MAX_CANDIDATE_BUTTONS = 23  # Discord allows 25 buttons in one message; two are Whole photo and Cancel
MAX_FEEDBACK_ROWS = 5  # a yes and a no per recognised concept (a photo answer names at most a few)


async def _refuse_stranger(interaction: discord.Interaction, owner_id: int) -> bool:
    """Buttons act for the user who asked; anyone else gets a private refusal and nothing changes."""
    if interaction.user.id == owner_id:
        return False
    await interaction.response.send_message("These buttons belong to someone else's request.", ephemeral=True)
    return True


async def _run_safely(action: Callable[[], Awaitable[str]]) -> str:
    try:
        return await action()
    except RapError as err:
        return replies.error(err)
    except Exception:
        log.exception("a button action failed")
        return replies.unexpected_error()


class ConfirmView(ExpiringView):
    """Confirm or cancel; the action runs once, on Confirm by the user who asked."""

    def __init__(
        self, owner_id: int, action: Callable[[], Awaitable[str]], confirm_label: str, timeout: float = 120.0
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.action = action
        self.confirm.label = confirm_label

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        if await _refuse_stranger(interaction, self.owner_id):
            return
        self.stop()
        await interaction.response.defer()
        outcome = await _run_safely(self.action)
        await interaction.edit_original_response(content=render.text(outcome), view=None)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        if await _refuse_stranger(interaction, self.owner_id):
            return
        self.stop()
        await interaction.response.edit_message(content="Cancelled: nothing was changed.", view=None)


class CandidateView(ExpiringView):
    """One button per numbered box on the annotated photo, plus Whole photo and Cancel."""

    expired_text = "This choice expired: nothing was stored. Send the photo with /remember again."

    def __init__(
        self,
        owner_id: int,
        candidates: list[Candidate],
        action: Callable[[Choice], Awaitable[str]],
        timeout: float = 600.0,
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.action = action
        for candidate in candidates[:MAX_CANDIDATE_BUTTONS]:
            self._add(str(candidate.index), discord.ButtonStyle.primary, candidate.index)
        self._add("Whole photo", discord.ButtonStyle.secondary, "whole")
        self._add("Cancel", discord.ButtonStyle.danger, "cancel")

    def _add(self, label: str, style: discord.ButtonStyle, choice: Choice) -> None:
        button: discord.ui.Button[CandidateView] = discord.ui.Button(label=label, style=style)
        button.callback = partial(self.choose, choice=choice)  # type: ignore[method-assign]
        self.add_item(button)

    def button(self, label: str) -> discord.ui.Button[CandidateView]:
        """The button with this label (for callers that press one programmatically)."""
        for item in self.children:
            if isinstance(item, discord.ui.Button) and item.label == label:
                return item
        raise KeyError(label)

    async def choose(self, interaction: discord.Interaction, choice: Choice) -> None:
        if await _refuse_stranger(interaction, self.owner_id):
            return
        self.stop()
        await interaction.response.defer()  # storing embeds the crop: may take longer than 3 s

        outcome = await _run_safely(partial(self.action, choice))
        await interaction.edit_original_response(content=render.text(outcome), view=None, attachments=[])


class FeedbackView(ExpiringView):
    """Under a photo answer: "Yes, <bo>" / "Not <bo>" for each concept it recognised, pressed by the
    asker. A press teaches the memory (bot.dispatch.feedback_given) and takes that concept's buttons
    away; the answer itself stays, also when the buttons expire."""

    def __init__(
        self,
        owner_id: int,
        offers: list[tuple[str, str]],
        action: Callable[[str, bool], Awaitable[tuple[str, bool]]],
        timeout: float = 900.0,
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.action = action
        self._answers: list[tuple[discord.ui.Button[FeedbackView], str]] = []  # each button's feedback id
        for row, (name, feedback_id) in enumerate(offers[:MAX_FEEDBACK_ROWS]):
            self._add(f"Yes, {name}"[:80], discord.ButtonStyle.success, feedback_id, True, row)
            self._add(f"Not {name}"[:80], discord.ButtonStyle.secondary, feedback_id, False, row)

    def _add(self, label: str, style: discord.ButtonStyle, feedback_id: str, correct: bool, row: int) -> None:
        button: discord.ui.Button[FeedbackView] = discord.ui.Button(label=label, style=style, row=row)
        button.callback = partial(self.give, feedback_id=feedback_id, correct=correct)  # type: ignore[method-assign]
        self._answers.append((button, feedback_id))
        self.add_item(button)

    async def give(self, interaction: discord.Interaction, feedback_id: str, correct: bool) -> None:
        if await _refuse_stranger(interaction, self.owner_id):
            return
        await interaction.response.defer()  # a store write: may take longer than 3 s
        try:
            text, refused = await self.action(feedback_id, correct)
        except Exception:
            log.exception("a feedback button failed")
            text, refused = replies.unexpected_error(), True
        if not refused:
            for button, answered in self._answers:
                if answered == feedback_id:
                    self.remove_item(button)
            if not self.children:
                self.stop()
            await interaction.edit_original_response(view=self if self.children else None)
        await interaction.followup.send(render.text(text), ephemeral=refused)

    async def on_timeout(self) -> None:
        if self.interaction is None:
            return
        try:
            await self.interaction.edit_original_response(view=None)  # the answer stays
        except discord.HTTPException:
            log.info("could not take expired buttons away (the message is gone)")
