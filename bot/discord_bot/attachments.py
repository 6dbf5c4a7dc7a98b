"""Reading an image attachment safely: refuse what is not an image or is too large, before any work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")

# Leading bytes of the image formats we accept; checked after download, since the declared type can lie.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


class AttachmentLike(Protocol):
    """The part of `discord.Attachment` this module uses."""

    filename: str
    size: int

    @property
    def content_type(self) -> str | None: ...

    async def read(self) -> bytes: ...


class BadAttachment(ValueError):
    """The attachment cannot be used; `str(err)` is the message for the user."""


def looks_like_image(attachment: AttachmentLike) -> bool:
    """By declared content type, else by file name (Discord omits the type for some uploads)."""
    if attachment.content_type:
        return attachment.content_type.lower().startswith("image/")
    return attachment.filename.lower().endswith(IMAGE_SUFFIXES)


def first_image(attachments: Sequence[AttachmentLike]) -> AttachmentLike | None:
    return next((a for a in attachments if looks_like_image(a)), None)


def _has_image_magic(data: bytes) -> bool:
    return data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_declared(attachment: AttachmentLike, max_bytes: int) -> None:
    """Refuse by what Discord declares (type, name, size), before downloading anything."""
    if not looks_like_image(attachment):
        raise BadAttachment(f"'{attachment.filename}' is not an image. Please attach a photo (JPEG, PNG, WebP or GIF).")
    if attachment.size > max_bytes:
        raise BadAttachment(_too_large(attachment.filename, attachment.size, max_bytes))


def _too_large(filename: str, size: int, max_bytes: int) -> str:
    return (
        f"'{filename}' is too large ({_megabytes(size)}); the limit is {_megabytes(max_bytes)}. "
        "Please send a smaller photo."
    )


async def read_image(attachment: AttachmentLike, max_bytes: int) -> bytes:
    """The attachment's bytes, or `BadAttachment` with a message that says what to send instead."""
    check_declared(attachment, max_bytes)
    data = await attachment.read()
    if len(data) > max_bytes:  # the declared size can be missing or wrong
        raise BadAttachment(_too_large(attachment.filename, len(data), max_bytes))
    if not _has_image_magic(data):
        raise BadAttachment(f"'{attachment.filename}' could not be read as an image. Please attach a photo.")
    return data
