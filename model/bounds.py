"""Bounds on the images a network's preprocessing starts from, so no caller (the worker, training,
evaluation, a script) can make a resize or a padding allocate without limit.

A 40000x1 photo is only 40 000 pixels, but CLIP's "shortest side to 224 px" makes it ~9 M pixels
wide and LLaVA's pad-to-square makes it a 40000x40000 canvas (4.8 GB). Every image is therefore
brought within `MAX_SIDE` on its longest side (downscaled, aspect kept) and, when it is thinner than
`MAX_ASPECT`:1, centred on a canvas of exactly that aspect (letterboxed), before any network's own
resize sees it. Images already within both bounds pass through untouched (the same object).

The worker refuses extreme shapes and downscales photos itself (worker/domain/images.py, settings
RAPBOT_MAX_PHOTO_ASPECT and RAPBOT_MAX_PHOTO_SIDE); these bounds are model/'s own defence."""

from __future__ import annotations

import math

from PIL import Image

# Longest side of any image handed to a network's preprocessing (CLIP, the generator's processor,
# pad-to-square). The networks look at 224-640 px; 2048 px keeps plenty of detail.
MAX_SIDE = 2048
# Thinnest shape (long side : short side) handed to a network; thinner ones are letterboxed.
MAX_ASPECT = 20.0
# OpenAI CLIP's mean colour: the padding LLaVA uses, and neutral (zero) after CLIP's normalisation.
NEUTRAL_FILL: tuple[int, int, int] = (122, 116, 104)


def fit_within(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """`image` downscaled (aspect kept, at least 1 px a side) so its longest side is at most
    `max_side`; the same object when it already fits. Memory: the output's size, whatever the input."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (
        max_side if width == longest else max(1, round(width * scale)),
        max_side if height == longest else max(1, round(height * scale)),
    )
    if image.mode not in ("RGB", "RGBA", "L", "LA", "I", "F"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    # reducing_gap: a cheap box reduction first, then Lanczos: fast on a 40 MP photo, same look.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def letterbox_aspect(
    image: Image.Image, max_aspect: float = MAX_ASPECT, fill: tuple[int, int, int] = NEUTRAL_FILL
) -> Image.Image:
    """`image` centred on a canvas of aspect `max_aspect` when it is thinner than that (the long side
    is kept, the short side grows); the same object otherwise."""
    if max_aspect < 1:
        raise ValueError(f"max_aspect must be at least 1, not {max_aspect}")
    width, height = image.size
    longest, shortest = max(width, height), max(1, min(width, height))
    if longest / shortest <= max_aspect:
        return image
    short = min(longest, math.ceil(longest / max_aspect))
    size = (width, short) if width >= height else (short, height)
    rgb = image.convert("RGB")
    canvas = Image.new("RGB", size, fill)
    canvas.paste(rgb, ((size[0] - width) // 2, (size[1] - height) // 2))
    return canvas


def bounded(
    image: Image.Image,
    max_side: int = MAX_SIDE,
    max_aspect: float = MAX_ASPECT,
    fill: tuple[int, int, int] = NEUTRAL_FILL,
) -> Image.Image:
    """`image` within `max_side` (downscaled) and `max_aspect` (letterboxed): at most
    max_side x max_side pixels whatever came in; the same object when it is already within both."""
    return letterbox_aspect(fit_within(image, max_side), max_aspect, fill)


def within_bounds(size: tuple[int, int], max_side: int = MAX_SIDE, max_aspect: float = MAX_ASPECT) -> bool:
    """Whether an image of this size passes `bounded` untouched."""
    width, height = size
    return max(width, height) <= max_side and max(width, height) / max(1, min(width, height)) <= max_aspect


__all__ = ["MAX_ASPECT", "MAX_SIDE", "NEUTRAL_FILL", "bounded", "fit_within", "letterbox_aspect", "within_bounds"]
