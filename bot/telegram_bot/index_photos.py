"""Telegram's side of the photo index (docs/index.md): every photo posted in a chat whose memory
turned the index on goes to the worker's index_photo, whether or not it was sent to the bot. A
handler of its own (handler group 1, after the bot's own), so it never changes what the bot says;
it runs as a background task and says nothing in the chat."""

from __future__ import annotations

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.indexing import index_later
from bot.telegram_bot import media
from bot.telegram_bot.services import PLATFORM, services
from worker.schemas import Requester

INDEX_HANDLER_GROUP = 1  # runs after group 0 (the bot's own handlers), for the same update


def location(message: Message) -> str:
    """Where the photo is found again: its t.me link (supergroups and channels), else the chat and
    message id (private chats and basic groups have no link)."""
    return message.link or f"telegram chat {message.chat.id}, message {message.message_id}"


async def on_photo_posted(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not (message.photo or message.document):
        return
    svc = services(context)
    allowed = svc.settings.allowed_users
    if allowed and user.id not in allowed and user.id not in svc.settings.owner_ids:
        return
    limit = svc.settings.max_download_bytes
    try:
        file_id = media.image_file_id(message, limit)
    except media.MediaProblem:
        return  # not an image: nothing to index
    if file_id is None:
        return
    if message.chat.type == ChatType.PRIVATE:
        who = Requester(platform=PLATFORM, user_id=str(user.id))
    else:
        who = Requester(platform=PLATFORM, user_id=str(user.id), chat_kind="group", chat_id=str(message.chat.id))

    async def images() -> list[bytes]:
        return [await media.download(context.bot, file_id)]

    index_later(
        svc.client,
        who,
        images,
        [location(message)],
        request_id=f"index:{message.chat.id}:{message.message_id}",
        posted_at=[message.date.timestamp()],
    )
