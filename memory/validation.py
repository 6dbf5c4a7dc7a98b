"""Checks on every input of the store, run before any write. Each raises a typed error whose message
can be shown to a user as it is."""

from __future__ import annotations

import math
import unicodedata

import numpy as np
import numpy.typing as npt

from memory.errors import (
    InvalidCategory,
    InvalidDescription,
    InvalidEmbedding,
    InvalidImage,
    InvalidName,
    InvalidSetting,
    MemoryStoreError,
    QuotaExceeded,
)
from memory.types import Box, NewView

MAX_NAME_CHARS = 64
MAX_CATEGORY_CHARS = 64
MAX_ENCODER_CHARS = 200
MAX_DIM = 16_000  # pgvector's limit for a stored vector
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Control characters and line/paragraph separators; format characters (ZWJ in emoji) stay allowed.
_BAD_NAME_CATEGORIES = {"Cc", "Zl", "Zp", "Cs", "Co", "Cn"}
_ALLOWED_TEXT_CONTROLS = {"\n", "\t", "\r"}


MAX_ID_CHARS = 128


def has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def shorten(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """Echo user text back in a message without letting it grow the message unboundedly."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_actor(user_id: str) -> None:
    if not isinstance(user_id, str) or not 1 <= len(user_id) <= MAX_ID_CHARS or has_control(user_id):
        raise InvalidSetting(f"A user id must be 1..{MAX_ID_CHARS} characters of text.")


def check_request_id(request_id: str | None) -> None:
    if request_id is not None and (
        not isinstance(request_id, str) or not 1 <= len(request_id) <= MAX_ID_CHARS or has_control(request_id)
    ):
        raise InvalidSetting(f"A request id must be 1..{MAX_ID_CHARS} characters of text.")


def _clean_label(raw: object, what: str, max_chars: int, error: type[MemoryStoreError]) -> str:
    """Trimmed, NFC, 1..max_chars, no control characters; else `error` with a message about `what`."""
    if not isinstance(raw, str):
        raise error(f"A {what} must be text.")
    label = unicodedata.normalize("NFC", raw.strip())
    if not label:
        raise error(f"A {what} cannot be empty.")
    if len(label) > max_chars:
        raise error(f"A {what} can have at most {max_chars} characters (this one has {len(label)}).")
    if any(unicodedata.category(ch) in _BAD_NAME_CATEGORIES for ch in label):
        raise error(f"A {what} cannot contain control characters or line breaks.")
    return label


def clean_name(raw: str) -> str:
    """The name as stored: trimmed, NFC. Raises InvalidName."""
    return _clean_label(raw, "name", MAX_NAME_CHARS, InvalidName)


def name_key(name: str) -> str:
    """The key names are unique by: NFKC + case folding, so "Bo", "BO" and "Ｂｏ" are one name."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


def clean_description(raw: str, max_chars: int) -> str:
    if not isinstance(raw, str):
        raise InvalidDescription("A description must be text.")
    text = unicodedata.normalize("NFC", raw.strip())
    if len(text) > max_chars:
        raise InvalidDescription(f"A description can have at most {max_chars} characters (this one has {len(text)}).")
    if any(unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_TEXT_CONTROLS for ch in text):
        raise InvalidDescription("A description cannot contain control characters.")
    return text


def clean_category(raw: str) -> str:
    return _clean_label(raw, "category", MAX_CATEGORY_CHARS, InvalidCategory)


def image_kind(data: bytes) -> str:
    """ "jpg" or "png" from the header; raises InvalidImage for anything else."""
    if data.startswith(_JPEG_MAGIC):
        return "jpg"
    if data.startswith(_PNG_MAGIC):
        return "png"
    raise InvalidImage("That file is not a JPEG or PNG image.")


def check_image(data: bytes, max_bytes: int) -> None:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidImage("The image must be the bytes of a JPEG or PNG file.")
    size = len(data)
    if size == 0:
        raise InvalidImage("The image is empty.")
    if size > max_bytes:
        raise QuotaExceeded(
            f"That image is too large ({size / 1e6:.1f} MB); the limit is {max_bytes / 1e6:.1f} MB per image."
        )
    image_kind(bytes(data[:8]))


def check_box(box: Box | None) -> list[float] | None:
    if box is None:
        return None
    values = list(box)
    if len(values) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise InvalidImage("A box must be four finite numbers: x1, y1, x2, y2.")
    x1, y1, x2, y2 = values
    if x2 < x1 or y2 < y1:
        raise InvalidImage("A box must have x2 >= x1 and y2 >= y1.")
    return [float(v) for v in values]


def check_encoder(encoder: str) -> str:
    if not isinstance(encoder, str) or not encoder.strip() or len(encoder) > MAX_ENCODER_CHARS:
        raise InvalidEmbedding(f"The encoder id must be 1..{MAX_ENCODER_CHARS} characters of text.")
    return encoder.strip()


def unit_vectors(raw: npt.ArrayLike, *, single: bool) -> npt.NDArray[np.float32]:
    """Finite, non-zero vectors scaled to unit length: shape (d,) when `single`, else (n, d)."""
    try:
        arr = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidEmbedding("An embedding must be an array of numbers.") from None
    if single and arr.ndim != 1:
        raise InvalidEmbedding(f"An embedding must be one vector (1-d), not shape {arr.shape}.")
    if not single:
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise InvalidEmbedding(f"Query embeddings must be a (n, d) matrix, not shape {arr.shape}.")
    dim = arr.shape[-1]
    if not 1 <= dim <= MAX_DIM:
        raise InvalidEmbedding(f"An embedding must have 1..{MAX_DIM} numbers (this one has {dim}).")
    if not np.all(np.isfinite(arr)):
        raise InvalidEmbedding("An embedding contains values that are not finite numbers (NaN or infinity).")
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise InvalidEmbedding("An embedding is all zeros, so it has no direction to compare.")
    return (arr / norms).astype(np.float32)


def check_view(view: NewView, max_image_bytes: int) -> tuple[npt.NDArray[np.float32], str, list[float] | None]:
    """Validate a new view: the unit embedding, the encoder id and the box as stored."""
    check_image(view.image_jpeg, max_image_bytes)
    return unit_vectors(view.embedding, single=True), check_encoder(view.encoder), check_box(view.box)
