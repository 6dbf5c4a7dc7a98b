"""The RAP pipeline: remember (detect, crop, embed, store), retrieve (detect the stored
categories, embed the crops, search the readable scopes) and generate (the RAP prompt with the
retrieved and the named concepts). Blocking; the clients run it in a thread or a Celery worker.

Product choice beyond RAP: RAP never uses the whole photo as a retrieval query. When the detector
finds no box at all, we search with the whole photo, so a concept remembered as a whole photo (no
box found when it was remembered) stays findable.

One module (over 400 lines) because remember, retrieve and generate share the detection, cropping
and scoring steps; what each uses on its own already lives beside it (faces, learning, matching,
mentions, grounding, images)."""

from __future__ import annotations

import io
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image

from memory import validation
from memory.errors import DuplicateName
from memory.types import Actor, ConceptInfo, NewView, is_face_encoder
from model.answers import yes_no
from model.batching import check_deadline
from model.draw import annotate, to_jpeg
from model.prompt import CAPTION_QUESTION
from model.types import ConceptRef, Detection, ModelBundle, view_key
from worker.domain.faces import FaceVerdict, face_view, has_face_views, judge_faces, store_face_view
from worker.domain.grounding import boxes_to_draw, grounded_in_photo
from worker.domain.images import decode_image
from worker.domain.learning import offer_feedback, pool_unvetoed
from worker.domain.lookalikes import lookalike_groups
from worker.domain.matching import Subject, pick_subject
from worker.domain.mentions import mentioned_names, unknown_names
from worker.domain.pending import PendingRemember, PendingStore
from worker.domain.timing import note_generation, stage
from worker.domain.vocabulary import GENERAL_VOCABULARY
from worker.errors import ALREADY_SAVED, BAD_REQUEST, NO_PENDING, RapError
from worker.schemas import AnswerResult, Box, Candidate, Recognised
from worker.settings import WorkerSettings

if TYPE_CHECKING:
    from memory.store import MemoryStore

SEARCH_K = 2  # nearest views per crop, as in RAP
_GENERAL = frozenset(GENERAL_VOCABULARY)


@dataclass(frozen=True)
class Stored:
    concept: ConceptInfo
    views_added: int


@dataclass(frozen=True)
class CandidatesFound:
    pending_id: str
    candidates: list[Candidate]
    annotated_jpeg: bytes


@dataclass(frozen=True)
class _PreparedView:
    view: NewView
    category: str
    face: NewView | None = None  # the face the crop shows (worker/domain/faces.py), stored next to it


class Pipeline:
    def __init__(
        self, store: MemoryStore, bundle: ModelBundle, settings: WorkerSettings, pending: PendingStore
    ) -> None:
        self.store = store
        self.bundle = bundle
        self.settings = settings
        self.pending = pending
        self._vocabulary_embeddings: npt.NDArray[np.float32] | None = None

    # ---- images and networks -------------------------------------------------------------
    def decode(self, data: bytes) -> Image.Image:
        with stage("decode"):
            return decode_image(
                data,
                max_bytes=self.settings.max_photo_bytes,
                max_pixels=self.settings.max_photo_pixels,
                max_aspect=self.settings.max_photo_aspect,
                max_side=self.settings.max_photo_side,
            )

    def _detect(self, image: Image.Image, classes: Sequence[str], keep: Sequence[str] | None = None) -> list[Detection]:
        if not classes:
            return []
        with stage("detect"):
            if keep is None:
                return self.bundle.detector.detect(image, list(classes))
            return self.bundle.detector.detect(image, list(classes), keep=list(keep))

    def detect_categories(self, image: Image.Image, categories: Collection[str]) -> list[Detection]:
        """Boxes of a memory's `categories` in `image`. When they are all in the general vocabulary
        (remember stores the detector's label or CLIP's pick from it), the detector runs with the
        whole vocabulary and keeps only these categories' scores per photo (before its non-maximum
        suppression): every such photo then asks for the same class list, so photos of different
        memories share a detection batch (model/engine.py), and a photo's boxes never depend on its
        neighbours. A memory with a category of its own asks for its own list, batched apart."""
        wanted = sorted(set(categories))
        if not wanted:
            return []
        if _GENERAL.issuperset(wanted):
            return self._detect(image, GENERAL_VOCABULARY, keep=wanted)
        return self._detect(image, wanted)

    def _embed(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        with stage("embed"):
            return self.bundle.encoder.embed_images(list(images))

    def _zero_shot_category(self, embedding: npt.NDArray[np.float32]) -> str:
        """CLIP zero-shot over the general vocabulary, for a photo with no detected box."""
        if self._vocabulary_embeddings is None:
            with stage("text"):
                self._vocabulary_embeddings = self.bundle.encoder.embed_texts(
                    [f"a photo of a {category}." for category in GENERAL_VOCABULARY]
                )
        scores = self._vocabulary_embeddings @ embedding
        return GENERAL_VOCABULARY[int(np.argmax(scores))]

    def _prepare_view(self, image: Image.Image, box: Detection | None) -> _PreparedView:
        crop = image.crop(_int_box(box.box)) if box else image
        embedding = self._embed([crop])[0]
        category = box.label if box else self._zero_shot_category(embedding)
        view = NewView(
            image_jpeg=_jpeg(crop),
            embedding=embedding.astype(np.float32),
            encoder=self.bundle.encoder.encoder_id,
            box=box.box if box else None,
        )
        return _PreparedView(view=view, category=category, face=self._face_view(crop, box))

    def _face_view(self, crop: Image.Image, box: Detection | None) -> NewView | None:
        if self.bundle.faces is None:
            return None
        left, top, _, _ = _int_box(box.box) if box else (0, 0, 0, 0)  # the crop's corner in the photo
        with stage("faces"):
            return face_view(self.bundle.faces, crop, (float(left), float(top)))

    def _subject(self, image: Image.Image, classes: Sequence[str]) -> Subject:
        detections = self._detect(image, classes)
        return pick_subject(detections, image.size, self.settings.dominance_ratio, self.settings.max_candidates)

    # ---- remember ------------------------------------------------------------------------
    def remember(
        self,
        scope_id: int,
        actor: Actor,
        name: str,
        description: str,
        images: Sequence[bytes],
        request_id: str | None = None,
    ) -> Stored | CandidatesFound:
        if not images:
            raise RapError(BAD_REQUEST, "Send a photo with /remember, or reply to one.")
        self.store.check_can_write(scope_id, actor)  # a locked group refuses before any detection
        if len(images) > self.settings.max_album_images:
            raise RapError(BAD_REQUEST, f"At most {self.settings.max_album_images} photos at once, please.")
        decoded = [self.decode(data) for data in images]  # every photo checked before any write
        if len(decoded) == 1:
            subject = self._subject(decoded[0], GENERAL_VOCABULARY)
            if subject.candidates:
                return self._ask_which(scope_id, actor, name, description, images[0], subject, request_id)
            return self._store(
                scope_id, actor, name, description, [self._prepare_view(decoded[0], subject.box)], request_id
            )
        # An album: the subject of each photo (the strongest box when several compete).
        prepared = []
        for image in decoded:
            subject = self._subject(image, GENERAL_VOCABULARY)
            prepared.append(self._prepare_view(image, subject.strongest))
        return self._store(scope_id, actor, name, description, prepared, request_id)

    def _ask_which(
        self,
        scope_id: int,
        actor: Actor,
        name: str,
        description: str,
        image_bytes: bytes,
        subject: Subject,
        request_id: str | None,
    ) -> CandidatesFound:
        # Fail now, not after the user has chosen, when the name or description would be refused.
        name = validation.clean_name(name)
        description = validation.clean_description(description, self.store.settings.max_description_chars)
        if self._find(scope_id, name) is not None:
            raise DuplicateName(f'"{name}" is already in this memory. Pick another name, or add a photo to it.')
        pending = PendingRemember(
            scope_id=scope_id,
            user_id=actor.user_id,
            moderator=actor.moderator,
            name=name,
            description=description,
            image=image_bytes,
            boxes=[det.box for det in subject.candidates],
            labels=[det.label for det in subject.candidates],
            request_id=request_id,
        )
        pending_id = self.pending.put(pending)
        candidates = [
            Candidate(index=i, box=det.box, label=det.label, score=det.score)
            for i, det in enumerate(subject.candidates, start=1)
        ]
        image = self.decode(image_bytes)
        annotated = _annotate(image, [c.box for c in candidates], [f"{c.index}" for c in candidates])
        return CandidatesFound(pending_id=pending_id, candidates=candidates, annotated_jpeg=annotated)

    def choose(self, scope_id: int, actor: Actor, pending_id: str, choice: int | str) -> Stored | None:
        """Finish a remember that had several candidates. Returns None when cancelled."""
        pending = self.pending.get(pending_id)
        if pending is None or pending.scope_id != scope_id or pending.user_id != actor.user_id:
            raise RapError(
                NO_PENDING, "There is no photo waiting for your choice (it may have expired). Send it again."
            )
        if choice == "cancel":
            self.pending.delete(pending_id)
            return None
        image = self.decode(pending.image)
        if choice == "whole":
            box = None
        elif isinstance(choice, int) and 1 <= choice <= len(pending.boxes):
            box = Detection(box=pending.boxes[choice - 1], label=pending.labels[choice - 1], score=1.0)
        else:
            raise RapError(BAD_REQUEST, f"Choose a number from 1 to {len(pending.boxes)}, “whole” or “cancel”.")
        # The pending id makes a repeated choose (a redelivered task) idempotent in the store.
        request_id = pending.request_id or f"choose:{pending_id}"
        stored = self._store(
            scope_id, actor, pending.name, pending.description, [self._prepare_view(image, box)], request_id
        )
        self.pending.delete(pending_id)
        return stored

    def _store(
        self,
        scope_id: int,
        actor: Actor,
        name: str,
        description: str,
        prepared: Sequence[_PreparedView],
        request_id: str | None,
    ) -> Stored:
        check_deadline("remember")  # its client gave up: storing now would be a ghost write
        first = prepared[0]
        # ONE transaction: the concept, every photo and every face, or nothing at all (and the
        # store checks the deadline again right before it commits).
        with self.store.unit_of_work():
            try:
                concept = self.store.add_concept(
                    scope_id, actor, name, description, first.category, first.view, request_id=request_id
                )
                rest, added = list(enumerate(prepared))[1:], len(prepared)
            except DuplicateName:
                existing = self._find(scope_id, name)
                if (
                    existing is None
                    or existing.created_by != actor.user_id
                    or not self._has_photo(existing, first.view)
                ):
                    raise
                # A retry of a remember that was in fact stored (its reply never came), maybe only in
                # part (an album stored photo by photo before this was one transaction): add what is
                # missing, or say it is all there.
                held = {view.image_jpeg for view in self.store.views(existing.id)}
                rest = [(i, each) for i, each in enumerate(prepared) if each.view.image_jpeg not in held]
                concept, added = existing, len(rest)
                if not rest:
                    raise RapError(
                        ALREADY_SAVED,
                        f"<{existing.name}> is already in this memory with this photo: you saved it earlier. "
                        f"/show {existing.name} shows it.",
                    ) from None
            for i, extra in rest:
                concept = self.store.add_view(
                    scope_id, actor, concept.name, extra.view, request_id=f"{request_id}:{i}" if request_id else None
                )
            for i, each in enumerate(prepared):
                if each.face is not None:
                    face_request = f"{request_id}:{i}:face" if request_id else None
                    store_face_view(self.store, scope_id, actor, concept.name, each.face, face_request)
        return Stored(concept=concept, views_added=added)

    # ---- add a view ----------------------------------------------------------------------
    def add_view(
        self, scope_id: int, actor: Actor, name: str, image_bytes: bytes, request_id: str | None = None
    ) -> ConceptInfo:
        concept = self.store.get(scope_id, actor, name)
        self.store.check_can_write(scope_id, actor)
        image = self.decode(image_bytes)
        # Look for the concept's own category first; the strongest box of it is the new view.
        prepared = self._prepare_view(image, self._subject(image, [concept.category]).strongest)
        check_deadline("add a photo")  # the store refuses the very same photo twice (a retry)
        with self.store.unit_of_work():  # the photo and its face, or neither
            added = self.store.add_view(scope_id, actor, name, prepared.view, request_id=request_id)
            if prepared.face is not None:
                face_request = f"{request_id}:face" if request_id else None
                store_face_view(self.store, scope_id, actor, added.name, prepared.face, face_request)
        return added

    def _has_photo(self, concept: ConceptInfo, view: NewView) -> bool:
        """The same photo gives the same crop, byte for byte (decoding, detection and JPEG encoding
        are deterministic), so a stored view equal to `view` means this photo is already there."""
        return any(stored.image_jpeg == view.image_jpeg for stored in self.store.views(concept.id))

    def _find(self, scope_id: int, name: str) -> ConceptInfo | None:
        found = self.store.get_by_names([scope_id], [name])
        return found[0] if found else None

    # ---- answer --------------------------------------------------------------------------
    def answer(
        self, scope_ids: Sequence[int], thresholds: dict[int, float], image_bytes: bytes | None, text: str | None
    ) -> AnswerResult:
        text = (text or "").strip()
        if image_bytes is None and not text:
            raise RapError(BAD_REQUEST, "Send a photo, a question, or both.")
        image = self.decode(image_bytes) if image_bytes is not None else None
        seen, beyond, offers, unsure = (
            self._recognise(image, scope_ids, thresholds) if image is not None else ([], [], {}, [])
        )
        named = self._named(text, scope_ids) if text else []

        # RAP puts the concepts named in the text first, uncapped; then what was seen, up to topK.
        # A concept both named and seen keeps its place and gains where it was seen.
        chosen: dict[int, tuple[ConceptInfo, float | None, Box | None]] = {c.id: (c, None, None) for c in named}
        for concept, similarity, box in seen:
            chosen[concept.id] = (concept, similarity, box)
        refs = [
            ConceptRef(name=c.name, info=c.description, image=photo, box=box, score=similarity, view_id=view_id)
            for (c, similarity, box), (photo, view_id) in zip(
                chosen.values(), (self._reference(c) for c, _, _ in chosen.values()), strict=True
            )
        ]
        recognised = [
            Recognised(name=c.name, similarity=similarity, box=box, feedback_id=offers.get(c.id) if box else None)
            for c, similarity, box in chosen.values()
        ]

        question = text or CAPTION_QUESTION  # the caption instruction RAP was trained on
        with stage("generate"):
            generation = self.bundle.generator.generate(
                image,
                refs,
                question,
                max_new_tokens=self.settings.reply_max_new_tokens,
                seed=self.settings.generation_seed,
            )
        note_generation(generation.batch, generation.tokens)
        kept = [r for r in recognised if r.name not in generation.dropped]
        answer_text = printable(generation.text)
        # A grounding answer's boxes are fractions of the photo: with no photo they place nothing.
        names = [r.name for r in kept]
        grounded = grounded_in_photo(answer_text, question, names, image.size) if image is not None else []
        boxes, labels = boxes_to_draw(kept, grounded)
        with stage("draw"):
            annotated = _annotate(image, boxes, labels) if image is not None and boxes else None
        return AnswerResult(
            text=answer_text,
            recognised=kept,
            annotated_image=annotated,
            yes_no=yes_no(answer_text, question),
            grounded=grounded,
            dropped=generation.dropped,
            left_out=[c.name for c in beyond if c.id not in chosen],
            memory_updating=image is not None and self._awaiting_reembed(scope_ids),
            lookalikes=unsure,
            unknown=unknown_names(text, [c.name for c in named]),
        )

    def _awaiting_reembed(self, scope_ids: Sequence[int]) -> bool:
        """Whether some of these memories still hold photos embedded only by an earlier encoder (an
        encoder change that `rapbot memory reembed` has not yet brought them through): a search
        there misses those photos, and the user should hear why."""
        encoder_id = self.bundle.encoder.encoder_id
        stored = self.store.encoders(scope_ids)
        if not any(other != encoder_id and not is_face_encoder(other) for other in stored):
            return False  # the usual case: one query, no more
        return bool(self.store.awaiting_reembed(scope_ids, encoder_id))

    def _recognise(
        self, image: Image.Image, scope_ids: Sequence[int], thresholds: dict[int, float]
    ) -> tuple[list[tuple[ConceptInfo, float, Box]], list[ConceptInfo], dict[int, str], list[list[str]]]:
        """Concepts seen in the photo, best first, at most the generator's topK; those seen beyond
        it (left out of the prompt, named in the reply); the feedback id (worker/domain/learning.py)
        under which the crop each was seen in waits for yes / no, by concept id; and the look-alikes
        (concepts within the margin of each other on one crop: worker/domain/indexing.py)."""
        encoder_id = self.bundle.encoder.encoder_id
        stored = self.store.encoders(scope_ids)
        if encoder_id not in stored:
            return [], [], {}, []  # nothing stored with this encoder: nothing to compare with
        detections = self.detect_categories(image, self.store.categories(scope_ids))
        whole: Box = (0.0, 0.0, float(image.width), float(image.height))
        boxes = [det.box for det in detections] or [whole]  # no box at all: the whole photo (see above)
        crops = [image.crop(_int_box(box)) for box in boxes]
        queries = self._embed(crops)
        with stage("search"):
            # Per crop, then pooled without the concepts a rejected look-alike vetoes (learning.py).
            per_crop = self.store.search(scope_ids, queries, encoder_id, k=SEARCH_K, pooled=False)
            hits = pool_unvetoed(per_crop)
        kept = [hit for hit in hits if hit.similarity >= thresholds.get(hit.concept.scope_id, 1.0)]
        kept.sort(key=lambda hit: hit.similarity, reverse=True)
        # People by face (worker/domain/faces.py): with a face visible, faces judge whoever has a face view.
        faces = self._judge_faces(image, scope_ids, stored)
        with_face = has_face_views(self.store)
        kept = [hit for hit in kept if not faces.decides(hit.concept, with_face)]
        by_face = [(match.concept, match.similarity, match.box) for match in faces.matches]
        limit = self.bundle.generator.max_concepts
        room = max(limit - len(by_face), 0)
        seen = by_face[:limit] + [(hit.concept, hit.similarity, boxes[hit.query_index]) for hit in kept[:room]]
        offers = {
            hit.concept.id: offer_feedback(
                self.pending,
                self.settings.feedback_ttl_s,
                hit.concept.scope_id,
                hit.concept,
                _jpeg(crops[hit.query_index]),
                queries[hit.query_index],
                encoder_id,
                boxes[hit.query_index],
            )
            for hit in kept[:room]
        }
        if self.bundle.faces is not None:  # a person recognised by face: yes / no is about that face
            face_encoder = self.bundle.faces.encoder_id
            for match in faces.matches[:limit]:
                offers[match.concept.id] = offer_feedback(
                    self.pending,
                    self.settings.feedback_ttl_s,
                    match.concept.scope_id,
                    match.concept,
                    _jpeg(image.crop(_int_box(match.box))),
                    match.descriptor,
                    face_encoder,
                    match.box,
                )
        beyond = [concept for concept, _, _ in by_face[limit:]] + [hit.concept for hit in kept[room:]]
        return seen, beyond, offers, lookalike_groups(per_crop, thresholds)

    def _judge_faces(self, image: Image.Image, scope_ids: Sequence[int], stored: Sequence[str]) -> FaceVerdict:
        if self.bundle.faces is None:
            return FaceVerdict()
        with stage("faces"):
            return judge_faces(self.bundle.faces, self.store, image, scope_ids, stored)

    def _named(self, text: str, scope_ids: Sequence[int]) -> list[ConceptInfo]:
        concepts = self.store.all_names(scope_ids)
        by_name = {concept.name: concept for concept in concepts}
        return [by_name[name] for name in mentioned_names(text, [concept.name for concept in concepts])]

    def _first_view(self, concept: ConceptInfo) -> Image.Image:
        return self._reference(concept)[0]

    def _reference(self, concept: ConceptInfo) -> tuple[Image.Image, str]:
        """The concept's reference photo for the prompt (its first photo) and that view's id
        (model.types.view_key), under which the generator encodes it once."""
        photos = [view for view in self.store.views(concept.id) if not is_face_encoder(view.encoder)]
        first = photos[0]
        return Image.open(io.BytesIO(first.image_jpeg)).convert("RGB"), view_key(first.id, first.image_jpeg)


def _int_box(box: Box) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    left, top = int(x1), int(y1)
    # At least one pixel wide and high, whatever the detector returned.
    return left, top, max(round(x2), left + 1), max(round(y2), top + 1)


def _jpeg(image: Image.Image) -> bytes:
    return to_jpeg(image)


def _annotate(image: Image.Image, boxes: Sequence[Box], labels: Sequence[str]) -> bytes:
    return to_jpeg(annotate(image, list(boxes), list(labels)))


_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")


def printable(text: str) -> str:
    """The model's answer without control characters or undecodable bytes, which no chat shows well."""
    return _UNPRINTABLE.sub("", text).strip()
