"""A memory that learns from the chat (docs/architecture.md, "Learning memory"). After a photo answer
recognises a concept, the crop it was recognised in waits server-side, with the embedding it was
searched with, under a feedback id (RAPBOT_FEEDBACK_TTL_S). "Yes, that's bo" adds the crop as a
new view of bo; "no" adds it as a negative view of bo, and from then on a crop closer to one of bo's
negative views than to all of bo's own views is not reported as bo. Feedback needs no network: the
embedding was computed at answer time, so a store-only worker serves it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from memory import validation
from memory.types import Actor, ConceptInfo, NewView, SearchHit
from worker.domain.pending import PendingStore
from worker.errors import BAD_REQUEST, NO_FEEDBACK, RapError
from worker.schemas import BYTES_AS_BASE64, Box

if TYPE_CHECKING:
    from memory.store import MemoryStore

CONFIRM, REJECT = "confirm", "reject"  # their audit actions
_EXPIRED = "I can no longer learn from that answer (it is too old, or was already answered). Send the photo again."


class PendingFeedback(BaseModel):
    """One recognised crop waiting for yes / no."""

    model_config = BYTES_AS_BASE64

    scope_id: int
    concept_id: int
    name: str  # the concept's name when it was recognised
    crop: bytes  # JPEG
    embedding: bytes  # float32, the crop's embedding as searched
    encoder: str
    box: Box | None = None


def vetoed(hit: SearchHit) -> bool:
    """The concept's nearest negative view is at least as close to this crop as its own views."""
    return hit.negative_similarity is not None and hit.negative_similarity >= hit.similarity


def pool_unvetoed(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """Per-crop hits (MemoryStore.search pooled=False) without the vetoed ones, pooled per concept
    (its best crop), best first. Vetoed per crop: a rejected look-alike in one crop does not hide
    the concept seen in another."""
    best: dict[int, SearchHit] = {}
    for hit in hits:
        if vetoed(hit):
            continue
        known = best.get(hit.concept.id)
        if known is None or hit.similarity > known.similarity:
            best[hit.concept.id] = hit
    return sorted(best.values(), key=lambda hit: (-hit.similarity, hit.concept.name))


def feedback_id(scope_id: int, concept_id: int, crop: bytes) -> str:
    """The same crop of the same photo recognised as the same concept gets the same id: asking about
    one photo again replaces its waiting crop instead of piling up copies."""
    digest = hashlib.blake2b(f"{scope_id}:{concept_id}:".encode() + crop, digest_size=10).digest()
    return base64.b32encode(digest).decode().lower()


def offer_feedback(
    pending: PendingStore,
    ttl_s: int,
    scope_id: int,
    concept: ConceptInfo,
    crop_jpeg: bytes,
    embedding: npt.NDArray[np.float32],
    encoder: str,
    box: Box | None,
) -> str:
    """Keep a recognised crop for yes / no; returns its feedback id."""
    key = feedback_id(scope_id, concept.id, crop_jpeg)
    item = PendingFeedback(
        scope_id=scope_id,
        concept_id=concept.id,
        name=concept.name,
        crop=crop_jpeg,
        embedding=np.asarray(embedding, dtype="<f4").tobytes(),
        encoder=encoder,
        box=box,
    )
    pending.put(item, ttl_s, key=key)
    return key


def give_feedback(
    store: MemoryStore,
    pending: PendingStore,
    scope_id: int,
    actor: Actor,
    key: str,
    name: str | None,
    correct: bool,
) -> ConceptInfo:
    """Yes: the crop becomes a view of the concept; no: a negative view of it. Both within its views
    quota and under the memory's rules (a locked group, someone else's concept), audited as
    "confirm" / "reject". `name`: the concept the user means (None: the one the id was given for)."""
    item = pending.get(key, PendingFeedback) if isinstance(key, str) and key else None
    if item is None or item.scope_id != scope_id:  # another chat's answer reads as no answer at all
        raise RapError(NO_FEEDBACK, _EXPIRED)
    if name is not None and validation.name_key(name) != validation.name_key(item.name):
        raise RapError(BAD_REQUEST, f"That answer recognised <{item.name}>, not <{validation.shorten(str(name))}>.")
    if store.get(scope_id, actor, item.name).id != item.concept_id:  # forgotten, and a new one took its name
        raise RapError(NO_FEEDBACK, _EXPIRED)
    view = NewView(
        image_jpeg=item.crop,
        embedding=np.frombuffer(item.embedding, dtype="<f4").astype(np.float32),
        encoder=item.encoder,
        box=item.box,
    )
    verdict = CONFIRM if correct else REJECT
    concept = store.add_view(
        scope_id,
        actor,
        item.name,
        view,
        # A redelivered request counts once; the other verdict on the same crop is refused as a
        # duplicate photo by the store rather than silently taken as done.
        request_id=f"feedback:{key}:{verdict}",
        negative=not correct,
        action=verdict,
    )
    pending.delete(key)
    return concept
