"""Checks on every input of the store, run before any write. Each raises a typed error whose message
can be shown to a user as it is."""

from __future__ import annotations

import math
import unicodedata

import icu  # ICU via pyicu-wheels: Unicode TR39 confusable skeletons and emoji properties
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
# Control characters and line/paragraph separators. Format characters (Cf) are checked one by one
# (_format_problem): invisible ones make two names that look the same, bidi controls reorder text.
_BAD_NAME_CATEGORIES = {"Cc", "Zl", "Zp", "Cs", "Co", "Cn"}
_ALLOWED_TEXT_CONTROLS = {"\n", "\t", "\r"}
_ZWJ, _ZWNJ, _VS16 = "\u200d", "\u200c", "\ufe0f"
# Unicode's Bidi_Control characters: ALM, LRM, RLM, LRE..RLO, LRI..PDI. All are Cf; named apart
# for the message.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TAG_FIRST, _TAG_LAST, _CANCEL_TAG, _BLACK_FLAG = 0xE0020, 0xE007E, "\U000e007f", "\U0001f3f4"
_VIRAMA = 9  # canonical combining class of a virama (Indic scripts)
# Scripts whose letters join, where a ZWNJ between two letters is ordinary spelling (Persian "می‌خواهم").
_JOINING_SCRIPTS = frozenset({"Arab", "Syrc", "Nkoo", "Mong", "Mand", "Mani", "Phlp", "Adlm", "Rohg", "Phag", "Sogd"})
_SPOOF = icu.SpoofChecker()


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
    problem = _format_problem(label, what)
    if problem:
        raise error(problem)
    if not name_skeleton(label):
        raise error(f"A {what} needs at least one visible character.")
    return label


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".strip()


def _is_pictographic(ch: str) -> bool:
    return bool(icu.Char.hasBinaryProperty(ch, icu.UProperty.EXTENDED_PICTOGRAPHIC))


def _zwj_joins_emoji(text: str, i: int) -> bool:
    """A ZWJ between two emoji (UTS #51 ZWJ sequence: 👨‍👩‍👧, 🏳️‍🌈, 👩🏽‍💻): the character after it is
    pictographic, and so is the one before it once a VS16 and a skin-tone modifier are stepped over."""
    if i + 1 >= len(text) or not _is_pictographic(text[i + 1]):
        return False
    j = i - 1
    if j >= 0 and text[j] == _VS16:
        j -= 1
    if j >= 0 and icu.Char.hasBinaryProperty(text[j], icu.UProperty.EMOJI_MODIFIER):
        j -= 1
    return j >= 0 and _is_pictographic(text[j])


def _is_tag(ch: str) -> bool:
    return _TAG_FIRST <= ord(ch) <= _TAG_LAST


def _in_emoji_tag_sequence(text: str, i: int) -> bool:
    """text[i], a tag or CANCEL TAG, is inside 🏴 + tags + CANCEL TAG (the flags of England, Scotland, Wales)."""
    start = i
    while start > 0 and _is_tag(text[start - 1]):
        start -= 1
    end = i
    while end < len(text) and _is_tag(text[end]):
        end += 1
    return start < end and start > 0 and text[start - 1] == _BLACK_FLAG and end < len(text) and text[end] == _CANCEL_TAG


def _script(ch: str) -> str:
    return str(icu.Script.getScript(ch).getShortName())


def _joiner_in_word(text: str, i: int) -> bool:
    """ZWJ/ZWNJ where a script's spelling needs it (after the rules of IDNA, RFC 5892 CONTEXTJ):
    after a virama (Devanagari "क्‍ष"), or a ZWNJ between two letters of one joining script."""
    before = text[i - 1] if i > 0 else ""
    if before and unicodedata.combining(before) == _VIRAMA:
        return True
    after = text[i + 1] if i + 1 < len(text) else ""
    return (
        text[i] == _ZWNJ
        and before.isalpha()
        and after.isalpha()
        and _script(before) == _script(after)
        and _script(before) in _JOINING_SCRIPTS
    )


def _format_problem(label: str, what: str) -> str | None:
    """Why the label's format characters (Cf) are refused, or None. Allowed: a ZWJ inside an emoji
    ZWJ sequence, the tags of an emoji tag sequence, and ZWJ/ZWNJ where a script's spelling needs
    them. Everything else invisible (other ZWJs, soft hyphens, word joiners, BOMs) and every bidi
    control is refused: they make a name that looks like another, or displays reordered."""
    for i, ch in enumerate(label):
        if ch in _BIDI_CONTROLS:
            return (
                f"A {what} cannot contain text-direction controls ({_describe(ch)}): "
                "they make it display differently from what it is."
            )
        if unicodedata.category(ch) != "Cf":
            continue
        if ch == _ZWJ and _zwj_joins_emoji(label, i):
            continue
        if (_is_tag(ch) or ch == _CANCEL_TAG) and _in_emoji_tag_sequence(label, i):
            continue
        if ch in (_ZWJ, _ZWNJ) and _joiner_in_word(label, i):
            continue
        if ch == _ZWJ:
            return (
                f"A {what} cannot contain a zero-width joiner ({_describe(ch)}) outside an emoji such as 👨‍👩‍👧: "
                f"it is invisible, so the {what} would look the same as one without it."
            )
        return (
            f"A {what} cannot contain invisible formatting characters ({_describe(ch)}): "
            f"the {what} would look the same as one without it."
        )
    return None


def clean_name(raw: str) -> str:
    """The name as stored: trimmed, NFC, no invisible or bidi format characters (see _format_problem).
    Raises InvalidName."""
    return _clean_label(raw, "name", MAX_NAME_CHARS, InvalidName)


def name_key(name: str) -> str:
    """The key names are unique by: NFKC + case folding, so "Bo", "BO" and "Ｂｏ" are one name."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


def name_skeleton(name: str) -> str:
    """The key two names that look the same share: the Unicode TR39 skeleton of the NFKC name (ICU's
    confusables data: Cyrillic "bо" -> "bo", "0" -> "O", invisible characters dropped), then case-folded,
    so it agrees with the case-insensitive names. Unique per scope next to name_key."""
    skeleton = _SPOOF.getSkeleton(0, unicodedata.normalize("NFKC", name.strip()))
    return unicodedata.normalize("NFKC", str(skeleton).casefold())


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
