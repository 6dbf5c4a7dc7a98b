"""Re-embed every view with another encoder (after an encoder change), scope by scope.

Each scope's pending views are read in keyset pages, their stored crops embedded in batches, and
the new vectors committed in one transaction per scope: searches in that scope use them from then
on. A re-run skips what is done (memory/repositories/reembedding.py says how "done" is known). At the end the
replaced views are deleted. Only the encoder is loaded: no detector, no generator."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError
from sqlalchemy.engine import Engine
from tqdm import tqdm

from memory import reembed as sql
from memory import validation
from model.encoder import ClipEncoder
from model.profiles import network_specs
from model.settings import ModelSettings
from model.types import ImageEncoder

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class ReembedReport:
    encoder: str  # the encoder the views were embedded with
    sources: list[str]  # the encoders whose views were replaced
    scopes: int  # scopes re-embedded in this run
    embedded: int  # views added with the new encoder
    removed: int  # views of the replaced encoders deleted at the end
    unreadable: int  # stored images that could not be decoded (their old views are kept)


def load_encoder(spec: str | None = None, settings: ModelSettings | None = None) -> ImageEncoder:
    """The encoder `spec` ("open_clip:<model>/<tag>"), default: the configured profile's. Raises
    ValueError for an id that names no known encoder (checked before any weight loads)."""
    settings = settings or ModelSettings()
    encoder = ClipEncoder(spec or network_specs(settings).encoder, settings)
    _ = encoder.dim  # an unknown model name fails here, with a clear message
    return encoder


def reembed(
    engine: Engine,
    encoder: ImageEncoder,
    *,
    sources: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
) -> ReembedReport:
    """Re-embed every view of the `sources` encoders (default: every other image encoder; face
    encoders never) with `encoder`, then delete the replaced views."""
    if batch_size < 1:
        raise ValueError("The batch size must be at least 1.")
    target = encoder.encoder_id
    replaced = sql.source_encoders(engine, target, sources)
    todo = sql.pending_scopes(engine, target, replaced)
    embedded = unreadable = 0
    with tqdm(
        total=sum(todo.values()), unit="view", desc=f"re-embedding with {target}", file=sys.stderr, disable=not progress
    ) as bar:
        for scope_id in todo:
            rows, bad = _embed_scope(engine, encoder, scope_id, replaced, batch_size, bar)
            embedded += sql.add_embedded(engine, scope_id, target, rows)
            unreadable += bad
    removed = sql.remove_replaced(engine, target, replaced)
    return ReembedReport(
        encoder=target, sources=replaced, scopes=len(todo), embedded=embedded, removed=removed, unreadable=unreadable
    )


def _embed_scope(
    engine: Engine, encoder: ImageEncoder, scope_id: int, sources: Sequence[str], batch_size: int, bar: tqdm[None]
) -> tuple[list[tuple[int, npt.NDArray[np.float32]]], int]:
    """(source view id, new embedding) for each of the scope's pending views, and how many images
    could not be decoded. Kept in memory until the scope is done (at most a scope's views: ~30 MB
    for the default 1000 things x 10 photos at 768 dims)."""
    rows: list[tuple[int, npt.NDArray[np.float32]]] = []
    unreadable, after = 0, 0
    while True:
        page = sql.pending_views(engine, scope_id, encoder.encoder_id, sources, after, batch_size)
        if not page:
            return rows, unreadable
        after = page[-1].id
        decoded = [(view.id, _decode(view)) for view in page]
        readable = [(view_id, image) for view_id, image in decoded if image is not None]
        unreadable += len(decoded) - len(readable)
        if readable:
            vectors = validation.unit_vectors(encoder.embed_images([image for _, image in readable]), single=False)
            rows.extend((view_id, vector) for (view_id, _), vector in zip(readable, vectors, strict=True))
        bar.update(len(page))


def _decode(view: sql.ViewToEmbed) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(view.image)) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        log.warning("View %s: its stored image cannot be decoded (%s); it keeps its old embedding.", view.id, err)
        return None
