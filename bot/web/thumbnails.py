"""Photos for the gallery: a view's stored crop as JPEG, full size or as a thumbnail. Thumbnails
are cached by the hash of the photo they were made from, so the cache holds nothing a request
did not already read through an authorised call (it saves the resizing, never the check)."""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

from PIL import Image, ImageOps

JPEG_MAGIC = b"\xff\xd8\xff"


class Thumbnails:
    def __init__(self, size_px: int, max_items: int) -> None:
        self._size = size_px
        self._max_items = max_items
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def thumbnail(self, photo: bytes) -> bytes:
        key = hashlib.sha256(photo).digest()
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        made = _encode(ImageOps.fit(_open(photo), (self._size, self._size)))
        if self._max_items:
            with self._lock:
                self._cache[key] = made
                while len(self._cache) > self._max_items:
                    self._cache.popitem(last=False)
        return made


def full_size(photo: bytes) -> bytes:
    """The stored crop as JPEG (stored crops are JPEG; anything else is converted)."""
    return photo if photo.startswith(JPEG_MAGIC) else _encode(_open(photo))


def _open(photo: bytes) -> Image.Image:
    with Image.open(io.BytesIO(photo)) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
