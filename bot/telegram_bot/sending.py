"""Sending replies: plain text (no parse mode, so user text can never break or inject markup),
split at Telegram's 4096-character limit, photos with captions, and "typing..." while working."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message
from telegram.constants import ChatAction, MessageLimit

TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
_ACTION_REFRESH_S = 4.5  # Telegram shows a chat action for 5 s


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break or space where there is one."""
    text = text.strip() or "(empty)"
    pieces = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    pieces.append(text)
    return pieces


async def reply_text(message: Message, text: str, keyboard: InlineKeyboardMarkup | None = None) -> Message:
    """Reply in pieces; the keyboard goes under the last piece. Returns the last message sent."""
    pieces = split_text(text)
    sent = message
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        sent = await message.reply_text(piece, reply_markup=keyboard if last else None, do_quote=index == 0)
    return sent


async def reply_photo(
    message: Message, photo: bytes, text: str, keyboard: InlineKeyboardMarkup | None = None, filename: str = "rap.jpg"
) -> Message:
    """A photo with the text as its caption; a text too long for a caption follows as messages."""
    if len(text) <= CAPTION_LIMIT:
        return await message.reply_photo(InputFile(photo, filename=filename), caption=text, reply_markup=keyboard)
    await message.reply_photo(InputFile(photo, filename=filename))
    return await reply_text(message, text, keyboard)


@contextlib.asynccontextmanager
async def chat_action(bot: Bot, chat_id: int, action: str = ChatAction.TYPING) -> AsyncIterator[None]:
    """Show `action` ("typing", "upload_photo", ...) until the block ends."""

    async def keep_showing() -> None:
        while True:
            with contextlib.suppress(Exception):  # a lost chat action is cosmetic, never an error
                await bot.send_chat_action(chat_id, action)
            await asyncio.sleep(_ACTION_REFRESH_S)

    task = asyncio.create_task(keep_showing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
