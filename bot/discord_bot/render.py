"""Turning the dispatcher's reply texts and files into Discord message parts."""

from __future__ import annotations

import io
import re

import discord

MESSAGE_LIMIT = 2000  # characters in one Discord message
FILES_LIMIT = 10  # attachments in one Discord message
# Control characters (a model can emit them) other than tab and newline: Discord shows them as boxes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def text(body: str) -> str:
    """User-written names and descriptions must not turn into markdown; long text is cut to fit."""
    escaped = discord.utils.escape_markdown(_CONTROL.sub("", body))
    if len(escaped) <= MESSAGE_LIMIT:
        return escaped
    return escaped[: MESSAGE_LIMIT - 1] + "…"


def file(data: bytes, filename: str) -> discord.File:
    return discord.File(io.BytesIO(data), filename=filename)
