"""Finding and downloading the image a message is about: its own photo, an image sent as a file,
or the photo of the message it replies to. Anything else gets a clear reason, not a crash."""

from __future__ import annotations

from telegram import Bot, Message
from telegram.error import BadRequest

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic")


class MediaProblem(Exception):
    """The message carries no usable image; `message` says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def has_media(message: Message) -> bool:
    """Whether the message carries something image-like (usable or not) that the bot should look at."""
    return bool(message.photo or message.document or message.sticker or message.animation or message.video)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB"


def image_file_id(message: Message, max_bytes: int) -> str | None:
    """The file id of the image this message carries; None when it carries no media at all.
    Raises MediaProblem for media that is not a usable image."""
    if message.sticker is not None:
        raise MediaProblem("Stickers are not photos I can use. Please send a photo.")
    if message.animation is not None or message.video is not None:
        raise MediaProblem("Animations and videos are not supported. Please send a photo.")
    if message.photo:
        # Telegram sends several sizes; the largest one within the download limit is the best.
        usable = [size for size in message.photo if (size.file_size or 0) <= max_bytes]
        if not usable:
            raise MediaProblem(f"That photo is too large for me to download (the limit is {_mb(max_bytes)}).")
        return max(usable, key=lambda size: size.width * size.height).file_id
    document = message.document
    if document is not None:
        mime = (document.mime_type or "").lower()
        name = (document.file_name or "").lower()
        if not (mime.startswith("image/") or name.endswith(_IMAGE_SUFFIXES)):
            raise MediaProblem(
                "That file is not an image. Send a photo, or an image file (JPEG, PNG, WebP) as a document."
            )
        if (document.file_size or 0) > max_bytes:
            raise MediaProblem(
                f"That file is {_mb(document.file_size or 0)}: bots can only download files up to {_mb(max_bytes)}. "
                "Please send a smaller image."
            )
        return document.file_id
    return None


def find_image(message: Message, max_bytes: int) -> str | None:
    """The image of the message itself, else of the message it replies to."""
    own = image_file_id(message, max_bytes)
    if own is not None:
        return own
    if message.reply_to_message is not None and has_media(message.reply_to_message):
        return image_file_id(message.reply_to_message, max_bytes)
    return None


async def download(bot: Bot, file_id: str) -> bytes:
    try:
        file = await bot.get_file(file_id)
    except BadRequest as err:
        if "too big" in err.message.lower():
            raise MediaProblem("That file is too large for me to download. Please send a smaller image.") from None
        raise MediaProblem("I could not fetch that file from Telegram. Please send it again.") from None
    return bytes(await file.download_as_bytearray())
