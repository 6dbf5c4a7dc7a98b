"""Draw labelled boxes on a photo with Pillow (numbered candidates, named recognitions), and encode
JPEGs. Never asks ultralytics to draw: it would try to download a font."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from model.bounds import MAX_SIDE, fit_within
from model.types import Box

Color = tuple[int, int, int]

# Distinct, high-contrast colours (Okabe-Ito plus a few), cycled per box.
PALETTE: tuple[Color, ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (255, 255, 255),
    (120, 200, 80),
    (255, 80, 80),
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _dejavu_path() -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.is_file() else None


@lru_cache(maxsize=16)
def load_font(size: int) -> Font:
    """DejaVuSans from matplotlib when installed, else Pillow's built-in scalable font."""
    path = _dejavu_path()
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _text_color(background: Color) -> Color:
    # Black text on light backgrounds, white on dark ones (relative luminance).
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def annotate(
    image: Image.Image,
    boxes: Sequence[Box],
    labels: Sequence[str],
    colors: Sequence[Color] | None = None,
    max_side: int | None = MAX_SIDE,
) -> Image.Image:
    """A copy of `image` (RGB) with each box outlined and its label on a filled tag above it (inside
    the image when the box touches the top edge). `labels` are numbers ("1") or names ("bo 0.83").
    A photo longer than `max_side` is downscaled first (boxes scaled with it), so the copy, the
    drawing and its JPEG stay bounded whatever the caller passes; None keeps the full size."""
    if len(boxes) != len(labels):
        raise ValueError(f"annotate: {len(boxes)} boxes but {len(labels)} labels")
    if colors is not None and len(colors) < len(boxes):
        raise ValueError(f"annotate: {len(boxes)} boxes but only {len(colors)} colors")
    out = image.convert("RGB")  # convert() always returns a new image: the caller's stays untouched
    if max_side is not None and max(out.size) > max_side:
        small = fit_within(out, max_side)
        sx, sy = small.width / out.width, small.height / out.height
        boxes = [(x1 * sx, y1 * sy, x2 * sx, y2 * sy) for x1, y1, x2, y2 in boxes]
        out = small
    width, height = out.size
    draw = ImageDraw.Draw(out)
    scale = max(width, height)
    line = max(2, round(scale / 300))
    font = load_font(max(12, round(scale / 40)))
    for i, (box, label) in enumerate(zip(boxes, labels, strict=True)):
        color = tuple(colors[i]) if colors is not None else PALETTE[i % len(PALETTE)]
        x1, y1, x2, y2 = (float(v) for v in box)
        x1, x2 = sorted((min(max(x1, 0.0), width - 1.0), min(max(x2, 0.0), width - 1.0)))
        y1, y2 = sorted((min(max(y1, 0.0), height - 1.0), min(max(y2, 0.0), height - 1.0)))
        draw.rectangle((x1, y1, x2, y2), outline=color, width=line)
        if not label:
            continue
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        pad = max(2, line)
        tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
        tag_x = min(x1, max(0.0, width - tag_w))
        tag_y = y1 - tag_h if y1 - tag_h >= 0 else y1  # above the box, else just inside it
        draw.rectangle((tag_x, tag_y, tag_x + tag_w, tag_y + tag_h), fill=color)
        draw.text((tag_x + pad - left, tag_y + pad - top), label, fill=_text_color(color), font=font)  # type: ignore[arg-type]
    return out


def to_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of `image` (alpha and palette images are flattened to RGB first)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
