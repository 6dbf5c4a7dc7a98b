"""Safe decoding of user photos: byte and pixel limits checked before the pixels are decoded,
Pillow's decompression-bomb guard on, EXIF orientation applied, any mode turned into RGB."""

from __future__ import annotations

import io
import warnings

from pi_heif import register_heif_opener
from PIL import Image, ImageOps, UnidentifiedImageError

from worker.errors import BAD_IMAGE, RapError

# iPhones send HEIC; registering the opener also keeps ultralytics' own Image.open hook (which
# imports pi_heif) from failing on files that are not images at all.
register_heif_opener()


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Return the photo as an upright RGB image, or raise RapError(BAD_IMAGE) saying what is wrong."""
    if not data:
        raise RapError(BAD_IMAGE, "The photo is empty. Please send it again.")
    if len(data) > max_bytes:
        raise RapError(
            BAD_IMAGE, f"The photo is too large ({len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB)."
        )
    try:
        with warnings.catch_warnings():
            # Pillow only warns at its own limit; a bomb must stop here, before decoding.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            width, height = opened.size  # read from the header, nothing decoded yet
            if width * height > max_pixels:
                raise RapError(
                    BAD_IMAGE,
                    f"The photo has too many pixels ({width}x{height}; the limit is {max_pixels / 1e6:.0f} MP).",
                )
            opened.load()
            return _to_rgb(ImageOps.exif_transpose(opened))
    except RapError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RapError(BAD_IMAGE, "The photo has too many pixels to be read safely.") from None
    except UnidentifiedImageError:
        raise RapError(BAD_IMAGE, "That file is not a photo I can read (try JPEG, PNG, WebP or HEIC).") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Truncated or corrupt data: Pillow raises these while decoding.
        raise RapError(BAD_IMAGE, "The photo is damaged and cannot be read. Please send it again.") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, not black, so the subject stays visible.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
