"""Augmentation of concept crops (RAP section 3.2: random flips and rotations), so the model learns
to match a concept seen from another side or angle."""

from __future__ import annotations

import random

from PIL import Image


def augment_crop(
    crop: Image.Image, rng: random.Random, *, flip_prob: float, rotate_prob: float, max_deg: float
) -> tuple[Image.Image, list[str]]:
    """A flipped and/or rotated copy of `crop`, and the operations applied (for the summary)."""
    ops: list[str] = []
    out = crop
    if rng.random() < flip_prob:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        ops.append("flip")
    if max_deg > 0 and rng.random() < rotate_prob:
        angle = rng.uniform(-max_deg, max_deg)
        # expand keeps the whole object in view; the corners are filled with black as in a padded crop
        out = out.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
        ops.append(f"rotate{angle:+.0f}")
    return out, ops
