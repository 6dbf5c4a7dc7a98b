"""Stand-ins for what Discord sends the bot: users, members, interactions with AsyncMock
response/followup (dpytest has no interaction support), and attachments served from memory in
place of Discord's CDN. The bot code under test, the worker client and the store are all real."""

from __future__ import annotations

import itertools
import zipfile
from dataclasses import dataclass
from io import BytesIO
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord

_ids = itertools.count(10**17)


def snowflake() -> int:
    return next(_ids)


def user(user_id: int | None = None) -> MagicMock:
    """A Discord user in a DM."""
    fake = MagicMock(spec=discord.User)
    fake.id = user_id or snowflake()
    fake.bot = False
    fake.display_name = f"user{fake.id}"
    return fake


def member(user_id: int | None = None, *, manage_guild: bool = False, roles: tuple[str, ...] = ()) -> MagicMock:
    """A server member, with Manage Server or not, and roles by name."""
    fake = MagicMock(spec=discord.Member)
    fake.id = user_id or snowflake()
    fake.bot = False
    fake.display_name = f"member{fake.id}"
    fake.guild_permissions = discord.Permissions(manage_guild=manage_guild)
    fake.roles = [SimpleNamespace(name=name) for name in roles]
    return fake


class FakeCdn:
    """Serves attachment bytes by URL, as Discord's CDN would."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def get_from_cdn(self, url: str) -> bytes:
        return self.files[url]


_cdn = FakeCdn()


def attachment(data: bytes, filename: str, content_type: str | None = "image/jpeg", size: int | None = None) -> Any:
    """A real `discord.Attachment` whose download returns `data`."""
    attachment_id = snowflake()
    url = f"https://cdn.discordapp.com/attachments/1/{attachment_id}/{filename}"
    _cdn.files[url] = data
    payload: dict[str, Any] = {
        "id": attachment_id,
        "size": len(data) if size is None else size,
        "filename": filename,
        "url": url,
        "proxy_url": url,
    }
    if content_type is not None:
        payload["content_type"] = content_type
    return discord.Attachment(data=payload, state=SimpleNamespace(http=_cdn))  # type: ignore[arg-type]


def interaction(who: MagicMock, guild_id: int | None = None) -> MagicMock:
    """A slash-command interaction from `who`, in a DM (no guild) or in the server `guild_id`."""
    fake = MagicMock(spec=discord.Interaction)
    fake.id = snowflake()
    fake.user = who
    fake.guild_id = guild_id
    fake.command = None
    fake.response = AsyncMock()
    fake.followup = AsyncMock()
    fake.delete_original_response = AsyncMock()
    fake.edit_original_response = AsyncMock()
    return fake


def message(author: MagicMock, content: str = "", attachments: tuple[Any, ...] = ()) -> MagicMock:
    """A message to use the "Ask rapbot" context menu on."""
    fake = MagicMock(spec=discord.Message)
    fake.author = author
    fake.content = content
    fake.attachments = list(attachments)
    return fake


@dataclass
class Shown:
    """One message the user saw."""

    content: str
    ephemeral: bool
    files: list[discord.File]
    view: discord.ui.View | None


def _shown(call: Any) -> Shown:
    content = call.args[0] if call.args else call.kwargs.get("content", "")
    files = list(call.kwargs.get("files", []))
    if "file" in call.kwargs:
        files.append(call.kwargs["file"])
    return Shown(content, bool(call.kwargs.get("ephemeral", False)), files, call.kwargs.get("view"))


def shown(fake: MagicMock) -> list[Shown]:
    """Everything the interaction showed: the direct response first, then followups."""
    calls = fake.response.send_message.call_args_list + fake.followup.send.call_args_list
    return [_shown(call) for call in calls]


def last(fake: MagicMock) -> Shown:
    messages = shown(fake)
    assert messages, "the user saw nothing"
    return messages[-1]


def edited_to(fake: MagicMock) -> str:
    """The text a button press left on its message."""
    if fake.edit_original_response.await_args is not None:
        return str(fake.edit_original_response.await_args.kwargs["content"])
    return str(fake.response.edit_message.await_args.kwargs["content"])


def file_bytes(file: discord.File) -> bytes:
    file.fp.seek(0)
    return file.fp.read()


def zip_names(file: discord.File) -> list[str]:
    with zipfile.ZipFile(BytesIO(file_bytes(file))) as archive:
        return archive.namelist()
