"""The last line of defence for slash commands: errors discord.py raises before or around a
command's own code (bad option values, server-only commands in a DM) get a private, clear reply."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot import replies

log = logging.getLogger(__name__)


def describe(error: app_commands.AppCommandError) -> str:
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only in a server."
    if isinstance(error, app_commands.MissingPermissions):
        return "You don't have the permission this command needs. Nothing was changed."
    if isinstance(error, app_commands.TransformerError):
        return f"'{error.value}' is not a valid {error.type.name.replace('_', ' ')}. Nothing was changed."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here. Nothing was changed."
    log.error("slash command failed", exc_info=error)
    return replies.unexpected_error()


async def on_app_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    message = describe(error)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True)
        else:
            await interaction.response.send_message(message, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user about a failed command (the interaction expired)")
