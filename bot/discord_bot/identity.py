"""Who is asking and from where: a Discord user in a DM or a member in a guild, as a `Requester`."""

from __future__ import annotations

import discord

from worker.schemas import Requester

PLATFORM = "discord"


def is_moderator(user: discord.User | discord.Member, moderator_role: str | None) -> bool:
    """Manage Server, or a role with the configured name. Outside a guild nobody moderates."""
    if not isinstance(user, discord.Member):
        return False
    if user.guild_permissions.manage_guild:
        return True
    if moderator_role is None:
        return False
    wanted = moderator_role.casefold()
    return any(role.name.casefold() == wanted for role in user.roles)


def requester(user: discord.User | discord.Member, guild_id: int | None, moderator_role: str | None) -> Requester:
    """A DM reads and writes the user's own memory; a guild reads and writes the guild's memory."""
    if guild_id is None:
        return Requester(platform=PLATFORM, user_id=str(user.id), chat_kind="user")
    return Requester(
        platform=PLATFORM,
        user_id=str(user.id),
        chat_kind="group",
        chat_id=str(guild_id),
        moderator=is_moderator(user, moderator_role),
    )


def private_requester(user: discord.User | discord.Member) -> Requester:
    """The user's own memory, wherever they ask from (for sharing into a guild, export, erasure)."""
    return Requester(platform=PLATFORM, user_id=str(user.id), chat_kind="user")
