"""People by face: the face view stored next to a remembered crop's CLIP view, and the rule that
decides who a query photo shows when faces are visible in it.

The rule (docs/architecture.md, "People"): faces are looked for in the WHOLE query photo. A concept that has a
face view is judged by face whenever any face is visible: recognised when one of the visible faces
is theirs (at the face's box, with the face similarity), ruled out otherwise, whatever CLIP says.
When no face is visible, every concept is judged by CLIP as before. Concepts without face views
(pets, things) are always judged by CLIP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from memory.errors import DuplicatePhoto, QuotaExceeded
from memory.types import Actor, ConceptInfo, NewView, is_face_encoder
from model.draw import to_jpeg
from model.types import Box, Face, FaceFinder
from worker.domain.learning import pool_unvetoed

if TYPE_CHECKING:
    from memory.store import MemoryStore

log = logging.getLogger(__name__)

FACE_SEARCH_K = 2  # nearest face views per visible face (several concepts may share one person)


@dataclass(frozen=True)
class FaceMatch:
    concept: ConceptInfo
    similarity: float  # cosine of the face descriptors
    box: Box  # the face in the query photo
    descriptor: npt.NDArray[np.float32]  # of that face: kept with it for a yes / no (worker/domain/learning.py)


@dataclass(frozen=True)
class FaceVerdict:
    """What the faces visible in a query photo decide: who is recognised by face, and that every
    other concept with a face view is ruled out (only when some face is visible)."""

    faces_visible: bool = False
    matches: list[FaceMatch] = field(default_factory=list)

    def decides(self, concept: ConceptInfo, has_face_views: Callable[[ConceptInfo], bool]) -> bool:
        """Whether the face verdict, not CLIP, judges this concept."""
        return self.faces_visible and has_face_views(concept)


def largest_face(finder: FaceFinder, crop: Image.Image) -> Face | None:
    """The face a remembered crop shows: the only one, or the largest when several are visible."""
    faces = finder.find(crop)
    return faces[0] if faces else None


def face_view(finder: FaceFinder, crop: Image.Image, origin: tuple[float, float]) -> NewView | None:
    """The face view of a remembered crop (None when it shows no face): the face's own crop as the
    stored image, its descriptor under the face encoder's id, its box in the photo's pixels
    (`origin` is the crop's top-left corner in the photo)."""
    face = largest_face(finder, crop)
    if face is None:
        return None
    x1, y1, x2, y2 = face.box
    left, top = origin
    face_crop = crop.crop((int(x1), int(y1), max(round(x2), int(x1) + 1), max(round(y2), int(y1) + 1)))
    return NewView(
        image_jpeg=to_jpeg(face_crop),
        embedding=face.descriptor.astype(np.float32),
        encoder=finder.encoder_id,
        box=(x1 + left, y1 + top, x2 + left, y2 + top),
    )


def store_face_view(
    store: MemoryStore, scope_id: int, actor: Actor, name: str, view: NewView, request_id: str | None
) -> bool:
    """Add a face view to the concept just stored; False when there was no room or it is already
    there (the photo itself is stored either way: the face is an extra, never a reason to fail)."""
    try:
        store.add_view(scope_id, actor, name, view, request_id=request_id, action="add_face")
    except (DuplicatePhoto, QuotaExceeded) as exc:
        log.info("face view of a photo not added: %s", exc)
        return False
    return True


def judge_faces(
    finder: FaceFinder, store: MemoryStore, image: Image.Image, scope_ids: Sequence[int], stored: Iterable[str]
) -> FaceVerdict:
    """Look for faces in the whole query photo and match them to the face views of these memories
    (`stored`: the encoder ids they hold). Nothing is looked for when they hold no face view."""
    if finder.encoder_id not in set(stored):
        return FaceVerdict()
    faces = finder.find(image)
    if not faces:
        return FaceVerdict()
    queries = np.stack([face.descriptor for face in faces])
    # Per face, then pooled without the people a rejected face of this one vetoes (a "no, that is
    # not her" stored that face as a negative view of her).
    hits = pool_unvetoed(store.search(scope_ids, queries, finder.encoder_id, k=FACE_SEARCH_K, pooled=False))
    threshold = finder.similarity_threshold
    matches = [
        FaceMatch(
            concept=hit.concept,
            similarity=hit.similarity,
            box=faces[hit.query_index].box,
            descriptor=faces[hit.query_index].descriptor.astype(np.float32),
        )
        for hit in hits
        if hit.similarity >= threshold
    ]
    return FaceVerdict(faces_visible=True, matches=sorted(matches, key=lambda m: m.similarity, reverse=True))


def has_face_views(store: MemoryStore) -> Callable[[ConceptInfo], bool]:
    """Whether a concept has a face view (asked only for the few concepts CLIP kept, once each)."""
    known: dict[int, bool] = {}

    def check(concept: ConceptInfo) -> bool:
        if concept.id not in known:
            known[concept.id] = any(is_face_encoder(view.encoder) for view in store.views(concept.id))
        return known[concept.id]

    return check
