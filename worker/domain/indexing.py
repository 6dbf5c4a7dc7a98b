"""The photo index (docs/index.md): every photo posted in a chat whose memory turned it on is
detected and embedded like a question photo, WITHOUT generation, and kept with where to find it;
`/find` searches it (a concept's photos newest first, ranked by CLIP text similarity to the rest of
the query, or plain CLIP text search). The rules of who may switch, read and forget it live in
memory/policy.py and memory/photo_index.py; this module only runs the networks.

Low priority by construction: indexing runs one batch at a time per process (`_ONE_BATCH`), each
of its steps waits until no answer is running in the process (`ANSWERS`), and the Celery client
sends it at the lowest priority of the pipeline queue (worker/client.py `background`), so a
waiting answer is always taken first."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from memory import validation
from memory.errors import UnknownConcept
from memory.index_types import FoundPhoto, IndexedVector, NewIndexedPhoto, Recognition
from memory.photo_index import PhotoIndex, lookalikes
from memory.types import Actor, ConceptInfo, ScopeInfo, SearchHit
from model.draw import to_jpeg
from model.types import Box, Face
from worker.domain.learning import vetoed
from worker.domain.lookalikes import LOOKALIKE_MARGIN
from worker.domain.timing import stage
from worker.errors import BAD_REQUEST, RapError
from worker.index_schemas import FindResult, FoundPhotoItem, IndexedPhotos

if TYPE_CHECKING:
    from worker.domain.pipeline import Pipeline

SEARCH_K = 2  # nearest views per crop, as for answers
THUMBNAIL_SIDE = 160  # pixels, the longer side, when a memory keeps thumbnails
MAX_FIND_QUERY_CHARS = 300
_ONE_BATCH = threading.Lock()  # one indexing batch at a time per process: answers keep the engine
INDEX_YIELD_MAX_S = 30.0  # the longest an indexing step waits for answers to finish (then it goes anyway)


class AnswersInFlight:
    """How many answers (the work a user waits for) this process runs now. Indexing waits for none
    to be running before each step (a detection, the batch's embedding), so an answer that arrives
    competes with at most one indexing step, never with a whole burst."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float = INDEX_YIELD_MAX_S) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


ANSWERS = AnswersInFlight()
_NAMED = re.compile(r"^\s*[<@]?<(?P<angle>[^<>]{1,64})>|^\s*@(?P<at>\S{1,64})")


@dataclass(frozen=True)
class _Seen:
    concept: ConceptInfo
    similarity: float
    box: Box | None
    uncertain: bool = False


class Indexer:
    def __init__(self, pipeline: Pipeline, index: PhotoIndex) -> None:
        self.pipeline = pipeline
        self.index = index
        self.store = pipeline.store
        self.bundle = pipeline.bundle

    # ---- indexing ------------------------------------------------------------------------------
    def index_photos(
        self,
        scope_id: int,
        threshold: float,
        actor: Actor,
        images: Sequence[bytes],
        locations: Sequence[str],
        request_id: str | None = None,
        posted_at: Sequence[float] | None = None,
    ) -> IndexedPhotos:
        if len(images) != len(locations) or (posted_at is not None and len(posted_at) != len(images)):
            raise RapError(BAD_REQUEST, "Each indexed photo needs where to find it (and when it was posted).")
        settings = self.index.accepts(scope_id)
        if not settings.enabled:
            return IndexedPhotos(off=True)  # nothing detected, embedded or kept
        with _ONE_BATCH:
            decoded: list[tuple[int, Image.Image]] = []
            for i, data in enumerate(images):
                try:
                    decoded.append((i, self.pipeline.decode(data)))
                except Exception:  # an unreadable photo in the chat is skipped, never an error there
                    continue
            prepared = self._prepare([image for _, image in decoded], scope_id, threshold)
        result = IndexedPhotos(skipped=len(images) - len(decoded))
        for (i, image), (vectors, seen) in zip(decoded, prepared, strict=True):
            thumbnail = _thumbnail(image) if settings.keep_thumbnails else None
            photo = NewIndexedPhoto(
                location=locations[i],
                width=image.width,
                height=image.height,
                vectors=vectors,
                recognitions=[Recognition(s.concept.id, s.similarity, s.box, s.uncertain) for s in seen],
                thumbnail_jpeg=thumbnail,
                request_id=f"{request_id}:{i}" if request_id else None,
                posted_at=datetime.fromtimestamp(float(posted_at[i]), UTC) if posted_at is not None else None,
            )
            if self.index.add(scope_id, actor, photo) is None:
                return result.model_copy(update={"off": True})  # turned off meanwhile
            result.indexed += 1
            for s in seen:
                names = result.uncertain if s.uncertain else result.recognised
                if s.concept.name not in names:
                    names.append(s.concept.name)
        return result

    def _prepare(
        self, images: Sequence[Image.Image], scope_id: int, threshold: float
    ) -> list[tuple[list[IndexedVector], list[_Seen]]]:
        """Per photo: its vectors (whole photo, crops, faces) and the concepts recognised. All the
        crops and whole photos of the batch go through the encoder together."""
        if not images:
            return []
        encoder_id = self.bundle.encoder.encoder_id
        categories = sorted(self.store.categories([scope_id]))
        boxes: list[list[Box]] = []
        for image in images:
            ANSWERS.wait_idle()
            if categories:
                with stage("detect"):
                    found = self.bundle.detector.detect(image, categories)
                boxes.append([det.box for det in found])
            else:
                boxes.append([])
        crops = [image for image in images] + [
            image.crop(_int_box(box)) for image, own in zip(images, boxes, strict=True) for box in own
        ]
        ANSWERS.wait_idle()
        with stage("embed"):
            embedded = self.bundle.encoder.embed_images(crops)
        wholes, rest = embedded[: len(images)], embedded[len(images) :]
        stored = set(self.store.encoders([scope_id]))
        results = []
        offset = 0
        for n, image in enumerate(images):
            own = boxes[n]
            crop_vectors = rest[offset : offset + len(own)]
            offset += len(own)
            vectors = [IndexedVector("whole", encoder_id, wholes[n].astype(np.float32))]
            vectors += [
                IndexedVector("crop", encoder_id, vec.astype(np.float32), box)
                for vec, box in zip(crop_vectors, own, strict=True)
            ]
            ANSWERS.wait_idle()
            faces = self._faces(image)
            if self.bundle.faces is not None:
                face_encoder = self.bundle.faces.encoder_id
                vectors += [
                    IndexedVector("face", face_encoder, face.descriptor.astype(np.float32), face.box) for face in faces
                ]
            seen: list[_Seen] = []
            if encoder_id in stored:
                # As for a question photo: the crops, or the whole photo when nothing was detected.
                queries = crop_vectors if len(own) else wholes[n : n + 1]
                query_boxes: list[Box | None] = list(own) if len(own) else [None]
                seen = self._recognise(scope_id, queries, query_boxes, encoder_id, threshold, faces, stored)
            results.append((vectors, seen))
        return results

    def _faces(self, image: Image.Image) -> list[Face]:
        if self.bundle.faces is None:
            return []
        with stage("faces"):
            return self.bundle.faces.find(image)

    def _recognise(
        self,
        scope_id: int,
        queries: npt.NDArray[np.float32],
        boxes: Sequence[Box | None],
        encoder_id: str,
        threshold: float,
        faces: Sequence[Face],
        stored: set[str],
    ) -> list[_Seen]:
        with stage("search"):
            hits = [h for h in self.store.search([scope_id], queries, encoder_id, k=SEARCH_K, pooled=False)]
        seen = _per_crop(hits, boxes, threshold)
        finder = self.bundle.faces
        if finder is None or finder.encoder_id not in stored:
            return seen
        # People by face (worker/domain/faces.py): with a face visible, faces judge whoever has one.
        with_face = {
            c.concept.id
            for c in seen
            if any(view.encoder == finder.encoder_id for view in self.store.views(c.concept.id))
        }
        by_face: list[_Seen] = []
        if faces:
            seen = [c for c in seen if c.concept.id not in with_face]
            descriptors = np.stack([face.descriptor for face in faces]).astype(np.float32)
            face_hits = self.store.search([scope_id], descriptors, finder.encoder_id, k=SEARCH_K, pooled=False)
            face_boxes: list[Box | None] = [face.box for face in faces]
            by_face = _per_crop(face_hits, face_boxes, finder.similarity_threshold)
        return _merge(by_face + seen)

    # ---- look-alikes ---------------------------------------------------------------------------
    def lookalikes(self, scope: ScopeInfo, concept_id: int) -> list[str]:
        """The other concepts a just-remembered concept's photo would be recognised as: CLIP at the
        memory's threshold, faces at the face threshold (a person another person's face matches)."""
        found = lookalikes(
            self.store, concept_id, self.bundle.encoder.encoder_id, self.store.effective_threshold(scope)
        )
        if self.bundle.faces is not None:
            found += lookalikes(
                self.store, concept_id, self.bundle.faces.encoder_id, self.bundle.faces.similarity_threshold
            )
        names: list[str] = []
        for name, _ in sorted(found, key=lambda pair: pair[1], reverse=True):
            if name not in names:
                names.append(name)
        return names[:3]

    # ---- finding -------------------------------------------------------------------------------
    def find(self, scope_id: int, actor: Actor, query: str, limit: int = 10) -> FindResult:
        """`<bo>`/`bo` alone: bo's photos, newest first; `bo at the beach`: those ranked by CLIP
        text similarity to "a photo of a <bo's category> at the beach"; no concept named: plain CLIP
        text search over the index."""
        query = " ".join(str(query or "").split())
        if not query:
            raise RapError(BAD_REQUEST, "Say what to find: /find bo, /find bo at the beach or /find red bicycle.")
        if len(query) > MAX_FIND_QUERY_CHARS:
            raise RapError(BAD_REQUEST, f"A search can have at most {MAX_FIND_QUERY_CHARS} characters.")
        status = self.index.status(scope_id, actor)  # may they read this memory? (and expire old photos)
        concept, rest = self._named(scope_id, query)
        if not status.photos and not status.settings.enabled:
            return FindResult(concept=concept.name if concept else None, text=rest or None, indexed=False)
        if concept is not None and not rest:
            found_concept, total, photos = self.index.with_concept(scope_id, actor, concept.name, limit)
            return FindResult(concept=found_concept.name, total=total, photos=[_item(p) for p in photos])
        text = rest if concept is None else f"{_article(concept.category)} {rest}"
        with stage("text"):
            vector = self.bundle.encoder.embed_texts([f"a photo of {text}"])[0]
        photos = self.index.by_text(
            scope_id,
            actor,
            vector,
            self.bundle.encoder.encoder_id,
            limit,
            concept=concept.name if concept is not None else None,
        )
        return FindResult(concept=concept.name if concept else None, text=rest, photos=[_item(p) for p in photos])

    def _named(self, scope_id: int, query: str) -> tuple[ConceptInfo | None, str]:
        """The concept the query starts with (`<bo>`, `@bo`, or its plain name, the longest that
        fits) and the rest of the query."""
        match = _NAMED.match(query)
        if match is not None:
            name = (match.group("angle") or match.group("at") or "").strip()
            found = self.store.get_by_names([scope_id], [name])
            if not found:
                raise UnknownConcept(f'There is no "{validation.shorten(name)}" in this memory.')
            return found[0], query[match.end() :].strip()
        words = query.split(" ")
        by_key = {validation.name_key(c.name): c for c in self.store.all_names([scope_id])}
        for cut in range(min(len(words), 8), 0, -1):
            concept = by_key.get(validation.name_key(" ".join(words[:cut])))
            if concept is not None:
                return concept, " ".join(words[cut:])
        return None, query


def _per_crop(hits: Sequence[SearchHit], boxes: Sequence[Box | None], threshold: float) -> list[_Seen]:
    """Per query row, its unvetoed hits at or above the threshold; two concepts within the
    look-alike margin of each other on one row are both kept, as uncertain; else the best only."""
    rows: dict[int, list[SearchHit]] = {}
    for hit in hits:
        if hit.similarity >= threshold and not vetoed(hit):
            rows.setdefault(hit.query_index, []).append(hit)
    seen: list[_Seen] = []
    for index, row in rows.items():
        row.sort(key=lambda hit: hit.similarity, reverse=True)
        best = row[0]
        close = [hit for hit in row[1:] if best.similarity - hit.similarity <= LOOKALIKE_MARGIN]
        for hit in [best, *close]:
            seen.append(_Seen(hit.concept, hit.similarity, boxes[index], uncertain=bool(close)))
    return _merge(seen)


def _merge(seen: Sequence[_Seen]) -> list[_Seen]:
    """One per concept: its best sighting; certain wherever it was once seen for sure."""
    best: dict[int, _Seen] = {}
    for s in seen:
        known = best.get(s.concept.id)
        if known is None:
            best[s.concept.id] = s
            continue
        top = s if s.similarity > known.similarity else known
        best[s.concept.id] = _Seen(top.concept, top.similarity, top.box, known.uncertain and s.uncertain)
    return sorted(best.values(), key=lambda s: s.similarity, reverse=True)


def _item(photo: FoundPhoto) -> FoundPhotoItem:
    return FoundPhotoItem(
        location=photo.location,
        posted_by=photo.posted_by,
        posted_at=photo.posted_at,
        recognised=[seen.name for seen in photo.concepts if not seen.uncertain],
        uncertain=[seen.name for seen in photo.concepts if seen.uncertain],
        score=photo.score,
        thumbnail=photo.thumbnail_jpeg,
    )


def _article(category: str) -> str:
    return f"{'an' if category[:1].lower() in 'aeiou' else 'a'} {category}"


def _thumbnail(image: Image.Image) -> bytes:

    small = image.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return to_jpeg(small)


def _int_box(box: Box) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    left, top = int(x1), int(y1)
    return left, top, max(round(x2), left + 1), max(round(y2), top + 1)
