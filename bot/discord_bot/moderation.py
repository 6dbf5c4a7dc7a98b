"""`/memory ...`: a server's moderators lock its memory, tune recognition, turn automatic captions
on or off, read the audit log and purge a member's contributions. Hidden from other members by
default permissions; a server admin can change who sees the commands, so the store refuses members
again (bot.dispatch renders that refusal as on every frontend)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import grammar
from bot.discord_bot.frontend import Frontend


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ModeratorCommands(commands.GroupCog, group_name="memory", group_description="Moderate this server's memory."):
    def __init__(self, frontend: Frontend) -> None:
        super().__init__()
        self.frontend = frontend

    @app_commands.command(name="lock", description="Only moderators may change this server's memory.")
    async def lock(self, interaction: discord.Interaction) -> None:
        await self.frontend.run(interaction, grammar.Lock())

    @app_commands.command(name="unlock", description="Every member may change this server's memory.")
    async def unlock(self, interaction: discord.Interaction) -> None:
        await self.frontend.run(interaction, grammar.Unlock())

    @app_commands.command(name="threshold", description="How similar a photo must be to recognise a concept.")
    @app_commands.describe(value="From 0 to 1; leave out to see the current settings")
    async def threshold(
        self, interaction: discord.Interaction, value: app_commands.Range[float, 0.0, 1.0] | None = None
    ) -> None:
        await self.frontend.run(interaction, grammar.Threshold(value))

    @app_commands.command(
        name="autocaption",
        description="Automatic captions in this server (photos that mention me are always answered).",
    )
    @app_commands.describe(enabled="On or off")
    async def autocaption(self, interaction: discord.Interaction, enabled: bool) -> None:
        await self.frontend.run(interaction, grammar.AutoCaption(enabled))

    @app_commands.command(name="audit", description="Who changed what in this server's memory, and when.")
    @app_commands.describe(limit="How many events (newest first)")
    async def audit(
        self, interaction: discord.Interaction, limit: app_commands.Range[int, 1, grammar.MAX_AUDIT] = 20
    ) -> None:
        await self.frontend.run(interaction, grammar.Audit(limit))

    @app_commands.command(name="purge", description="Remove everything one member added to this server's memory.")
    @app_commands.describe(member="Whose contributions to remove")
    async def purge(self, interaction: discord.Interaction, member: discord.User) -> None:
        def shown(member_id: str) -> str:
            return member.display_name if member_id == str(member.id) else member_id

        await self.frontend.run(interaction, grammar.Purge(str(member.id)), member_name=shown)
