"""Helpers of the memory tests: real images, unit vectors, new views."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from sqlalchemy import text
from sqlalchemy.engine import Engine

from memory.types import Actor, NewView

ENCODER = "open_clip:ViT-B-32/test"
# Readers for checks from outside: the user_scope fixture's owner, and a group moderator.
OWNER = Actor("alice")
MODERATOR = Actor("mod", moderator=True)
DIM = 16


def jpeg(colour: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="JPEG")
    return out.getvalue()


def png(colour: tuple[int, int, int] = (30, 200, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="PNG")
    return out.getvalue()


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    vec = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vec / np.linalg.norm(vec)


def make_view(seed: int = 0, *, dim: int = DIM, encoder: str = ENCODER, image: bytes | None = None) -> NewView:
    return NewView(
        image_jpeg=image if image is not None else jpeg(),
        embedding=unit(seed, dim),
        encoder=encoder,
        box=(1.0, 2.0, 30.0, 40.0),
    )


def truncate_all(engine: Engine) -> None:
    """Empty every table of the store and restart its ids, so a replayed example sees the same ids.
    DELETE + setval rather than TRUNCATE: on these few rows it skips TRUNCATE's new-file fsyncs
    (~0.3 s each here), so hundreds of resets stay cheap."""
    with engine.begin() as conn:
        for table in ("audit_events", "views", "concepts", "scopes"):
            conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)"))
