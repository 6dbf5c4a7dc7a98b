"""`/memory ...`: a server's moderators lock its memory, tune recognition, read the audit log and
purge a member's contributions. Hidden from other members by default permissions, and checked
again here, because a server admin can change who sees the commands."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import replies
from bot.discord_bot import render
from bot.discord_bot.frontend import Frontend, Work
from bot.discord_bot.reply import InteractionReply, Outgoing
from worker.schemas import Requester


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ModeratorCommands(commands.GroupCog, group_name="memory", group_description="Moderate this server's memory."):
    def __init__(self, frontend: Frontend) -> None:
        super().__init__()
        self.frontend = frontend
        self.client = frontend.client

    async def _moderate(
        self, interaction: discord.Interaction, command: str, work: Work, private: bool = False
    ) -> None:
        if interaction.guild_id is None:
            await InteractionReply(interaction, private=True).error(replies.need_group(f"memory {command}"))
            return
        if not self.frontend.is_moderator(interaction.user):
            role = self.frontend.settings.moderator_role
            who = "members with Manage Server" + (f" or the {role} role" if role else "")
            await InteractionReply(interaction, private=True).error(
                f"Only moderators ({who}) can use /memory {command}. Nothing was changed."
            )
            return
        await self.frontend.run(interaction, work, private=private)

    @app_commands.command(name="lock", description="Only moderators may change this server's memory.")
    async def lock(self, interaction: discord.Interaction) -> None:
        async def work(who: Requester, _: list[bytes]) -> Outgoing:
            return Outgoing(replies.settings_changed(await self.client.update_settings(who, locked=True)))

        await self._moderate(interaction, "lock", work)

    @app_commands.command(name="unlock", description="Every member may change this server's memory.")
    async def unlock(self, interaction: discord.Interaction) -> None:
        async def work(who: Requester, _: list[bytes]) -> Outgoing:
            return Outgoing(replies.settings_changed(await self.client.update_settings(who, locked=False)))

        await self._moderate(interaction, "unlock", work)

    @app_commands.command(name="threshold", description="How similar a photo must be to recognise a concept.")
    @app_commands.describe(value="From 0 to 1; leave out to see the current settings")
    async def threshold(
        self, interaction: discord.Interaction, value: app_commands.Range[float, 0.0, 1.0] | None = None
    ) -> None:
        async def work(who: Requester, _: list[bytes]) -> Outgoing:
            if value is None:
                return Outgoing(replies.settings(await self.client.get_settings(who)))
            updated = await self.client.update_settings(who, similarity_threshold=value)
            return Outgoing(replies.settings_changed(updated))

        await self._moderate(interaction, "threshold", work)

    @app_commands.command(name="audit", description="Who changed what in this server's memory, and when.")
    @app_commands.describe(limit="How many events (newest first)")
    async def audit(self, interaction: discord.Interaction, limit: app_commands.Range[int, 1, 50] = 20) -> None:
        async def work(who: Requester, _: list[bytes]) -> Outgoing:
            return Outgoing(render.text(replies.audit_lines(await self.client.audit(who, limit=limit))))

        await self._moderate(interaction, "audit", work, private=True)

    @app_commands.command(name="purge", description="Remove everything one member added to this server's memory.")
    @app_commands.describe(member="Whose contributions to remove")
    async def purge(self, interaction: discord.Interaction, member: discord.User) -> None:
        async def work(who: Requester, _: list[bytes]) -> Outgoing:
            removed = await self.client.purge(who, str(member.id))
            return Outgoing(render.text(replies.purged(member.display_name, removed)))

        await self._moderate(interaction, "purge", work)
