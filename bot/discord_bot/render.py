"""Turning the shared reply texts and the worker's results into Discord message parts."""

from __future__ import annotations

import io
import re

import discord

from bot import replies
from worker.schemas import AnswerResult, ConceptDetail, RememberResult

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


def image_file(data: bytes, filename: str) -> discord.File:
    return discord.File(io.BytesIO(data), filename=filename)


def candidates_text(result: RememberResult) -> str:
    lines = ["I see several things in this photo. Which one did you mean?"]
    lines += [f"{c.index}. {c.label} ({c.score:.2f})" for c in result.candidates]
    lines.append("Press its number, Whole photo, or Cancel.")
    return text("\n".join(lines))


def answer_files(result: AnswerResult) -> list[discord.File]:
    """The photo with the recognised concepts boxed and labelled, when there is one."""
    if result.annotated_image is None:
        return []
    return [image_file(result.annotated_image, "rapbot-answer.jpg")]


def answer_text(result: AnswerResult, with_photo: bool) -> str:
    return text(replies.answer(result, with_photo=with_photo))


def detail_files(detail: ConceptDetail) -> list[discord.File]:
    name = "".join(ch if ch.isalnum() else "-" for ch in detail.concept.name)[:40] or "concept"
    return [image_file(data, f"{name}-{i}.jpg") for i, data in enumerate(detail.images[:FILES_LIMIT], start=1)]


def zip_file(archive: bytes) -> discord.File:
    return discord.File(io.BytesIO(archive), filename="rapbot-export.zip")
