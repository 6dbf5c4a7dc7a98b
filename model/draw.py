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


Rect = tuple[float, float, float, float]  # x1, y1, x2, y2


def _overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_tags(boxes: Sequence[Rect], sizes: Sequence[tuple[float, float]], width: int, height: int) -> list[Rect]:
    """Where each box's label tag goes: above the box, else just inside its top, below it, inside its
    bottom, or beside those at the other corner; the first spot inside the image that overlaps no tag
    placed before it. Where every such spot is taken (many boxes in one corner), the tag slides down
    from the box's top in steps of its own height until it is free; only when the image has no free
    spot left does it overlap. Numbered candidates never hide each other's numbers this way."""
    placed: list[Rect] = []
    for (x1, y1, x2, y2), (w, h) in zip(boxes, sizes, strict=True):

        def clamp(x: float, y: float, w: float = w, h: float = h) -> Rect:
            x = min(max(x, 0.0), max(0.0, width - w))
            y = min(max(y, 0.0), max(0.0, height - h))
            return (x, y, x + w, y + h)

        spots = [clamp(x, y) for y in (y1 - h, y1, y2, y2 - h) for x in (x1, x2 - w)]
        step = max(h, 1.0)
        spots += [clamp(x, y1 + k * step) for k in range(1, int(height / step) + 2) for x in (x1, x2 - w)]
        spots += [clamp(x1, y1 - k * step) for k in range(2, int(height / step) + 2)]
        free = next((spot for spot in spots if not any(_overlaps(spot, other) for other in placed)), spots[0])
        placed.append(free)
    return placed


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
    pad = max(2, line)
    clipped: list[Rect] = []
    for box in boxes:
        x1, y1, x2, y2 = (float(v) for v in box)
        x1, x2 = sorted((min(max(x1, 0.0), width - 1.0), min(max(x2, 0.0), width - 1.0)))
        y1, y2 = sorted((min(max(y1, 0.0), height - 1.0), min(max(y2, 0.0), height - 1.0)))
        clipped.append((x1, y1, x2, y2))
    colours = [tuple(colors[i]) if colors is not None else PALETTE[i % len(PALETTE)] for i in range(len(boxes))]
    for box, color in zip(clipped, colours, strict=True):
        draw.rectangle(box, outline=color, width=line)
    # The tags after every outline, so that no box's outline is drawn over another box's label.
    labelled = [(box, label, color) for box, label, color in zip(clipped, labels, colours, strict=True) if label]
    bounds = [draw.textbbox((0, 0), label, font=font) for _, label, _ in labelled]
    sizes = [(right - left + 2.0 * pad, bottom - top + 2.0 * pad) for left, top, right, bottom in bounds]
    tags = place_tags([box for box, _, _ in labelled], sizes, width, height)
    for (_, label, color), (left, top, _, _), tag in zip(labelled, bounds, tags, strict=True):
        draw.rectangle(tag, fill=color)
        draw.text((tag[0] + pad - left, tag[1] + pad - top), label, fill=_text_color(color), font=font)  # type: ignore[arg-type]
    return out


def to_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of `image` (alpha and palette images are flattened to RGB first)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
