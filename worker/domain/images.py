"""Safe decoding of user photos: byte, pixel and shape limits checked before the pixels are
decoded, Pillow's decompression-bomb guard on, EXIF orientation applied, any mode turned into RGB,
and the result a working copy no longer than RAPBOT_MAX_PHOTO_SIDE: every network, crop and
annotated photo is made from it, so what a photo costs is bounded by the working size, not by what
the user sent. A 40000x1 strip is only 40 000 pixels but would cost gigabytes in the networks'
resizes: shapes thinner than RAPBOT_MAX_PHOTO_ASPECT:1 are refused from the header alone."""

from __future__ import annotations

import io
import math
import warnings

from pi_heif import register_heif_opener
from PIL import Image, ImageOps, UnidentifiedImageError

from model.bounds import fit_within
from worker.errors import BAD_IMAGE, RapError
from worker.settings import WorkerSettings

# iPhones send HEIC; registering the opener also keeps ultralytics' own Image.open hook (which
# imports pi_heif) from failing on files that are not images at all.
register_heif_opener()


def decode_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    max_aspect: float | None = None,
    max_side: int | None = None,
) -> Image.Image:
    """Return the photo as an upright RGB image at most `max_side` on its longest side, or raise
    RapError(BAD_IMAGE) saying what is wrong. `max_aspect` / `max_side` left out: the
    RAPBOT_MAX_PHOTO_ASPECT / RAPBOT_MAX_PHOTO_SIDE settings."""
    if max_aspect is None or max_side is None:
        defaults = WorkerSettings()
        max_aspect = defaults.max_photo_aspect if max_aspect is None else max_aspect
        max_side = defaults.max_photo_side if max_side is None else max_side
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
            if min(width, height) < 1:
                raise RapError(BAD_IMAGE, "The photo is damaged and cannot be read. Please send it again.")
            if max(width, height) / min(width, height) > max_aspect:
                raise RapError(
                    BAD_IMAGE,
                    f"This photo is {width}x{height} pixels: too long and thin to look at "
                    f"(at most {max_aspect:g}:1). Crop it and send it again.",
                )
            scale = max_side / max(width, height)
            if scale < 1:
                # JPEG: decode at 1/2, 1/4 or 1/8 scale straight away (never below the working
                # size): a 36 MP photo then costs a quarter of its full-size pixels, or less.
                opened.draft(None, (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
            opened.load()
            ImageOps.exif_transpose(opened, in_place=True)  # no second full-size copy
            return fit_within(_to_rgb(opened), max_side)
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
