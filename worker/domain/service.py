"""Every client operation as one blocking call over (store, pipeline): which scope a request reads
and writes (its user's own memory, or the group it comes from), passing the requester as the actor of
every store call so memory.policy decides what it may do; results turned into worker.schemas
(worker.domain.runtime turns every error into a RapError). LocalClient runs these in a thread; the Celery
tasks run the very same methods, so both give the same result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memory.errors import UnknownScope
from memory.photo_index import PhotoIndex
from memory.types import Actor, ConceptInfo, ScopeInfo, ScopeKind, ViewInfo, is_face_encoder
from worker.domain.indexing import ANSWERS, Indexer
from worker.domain.learning import PendingFeedback, give_feedback
from worker.domain.pending import PendingStore
from worker.domain.pipeline import CandidatesFound, Pipeline
from worker.errors import BAD_REQUEST, NO_FEEDBACK, RapError
from worker.index_schemas import FindResult, IndexedPhotos, PhotoIndexStatus
from worker.schemas import (
    AnswerResult,
    AuditItem,
    ConceptDetail,
    ConceptPage,
    ConceptSummary,
    ErasureSummary,
    GroupSettings,
    Permissions,
    RememberResult,
    Requester,
)

if TYPE_CHECKING:
    from memory.store import MemoryStore

SCOPE_CACHE_SIZE = 100_000  # scope ids kept per process (a few MB at most)


def summary(concept: ConceptInfo) -> ConceptSummary:
    return ConceptSummary(
        name=concept.name,
        description=concept.description,
        category=concept.category,
        created_by=concept.created_by,
        view_count=concept.view_count,
        created_at=concept.created_at,
        updated_at=concept.updated_at,
        negative_count=concept.negative_count,
    )


class RapService:
    def __init__(self, store: MemoryStore, pipeline: Pipeline | None, pending: PendingStore | None = None) -> None:
        """`pending`: where recognised crops wait for yes / no (the pipeline's); a store-only worker
        needs it too, since it serves feedback()."""
        self.store = store
        self._pipeline = pipeline
        self._pending = pending if pending is not None else (pipeline.pending if pipeline is not None else None)
        self._scope_ids: dict[tuple[str, ScopeKind, str], int] = {}
        self._seen: set[tuple[int, str]] = set()  # (group scope id, member) recorded in members_seen
        self._photo_index = PhotoIndex(store)  # the opt-in photo index (docs/index.md)
        self._indexer: Indexer | None = None

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:  # a store-only worker: the client routes these elsewhere
            raise RapError(BAD_REQUEST, "This worker serves the memory only; photos and questions go to a GPU worker.")
        return self._pipeline

    # ---- who reads and writes what -----------------------------------------------------------
    @staticmethod
    def _scope_key(who: Requester) -> tuple[ScopeKind, str]:
        if who.chat_kind == "group":
            if not who.chat_id:
                raise RapError(BAD_REQUEST, "A group request needs the group's chat id.")
            return ScopeKind.GROUP, who.chat_id
        return ScopeKind.USER, who.user_id

    def scope_of(self, who: Requester) -> ScopeInfo:
        """A DM reads and writes the user's memory; a group chat the group's. A scope's id never
        changes, so it is remembered: later requests read the scope instead of upserting it. A
        member asking in a group is remembered as seen there (once per process and pair): the
        gallery asks a platform about a user's membership only in such groups."""
        key = (who.platform, *self._scope_key(who))
        known = self._scope_ids.get(key)
        if known is not None:
            try:
                scope = self.store.get_scope(known)
            except UnknownScope:  # erased since: make it anew
                self._scope_ids.pop(key, None)
            else:
                self._note_member(scope, who)
                return scope
        scope = self.store.scope(*key)
        if len(self._scope_ids) >= SCOPE_CACHE_SIZE:
            self._scope_ids.clear()
        self._scope_ids[key] = scope.id
        self._note_member(scope, who)
        return scope

    def _note_member(self, scope: ScopeInfo, who: Requester) -> None:
        if scope.kind != ScopeKind.GROUP or (scope.id, who.user_id) in self._seen:
            return
        self.store.note_member(scope.id, who.user_id)
        if len(self._seen) >= SCOPE_CACHE_SIZE:
            self._seen.clear()
        self._seen.add((scope.id, who.user_id))

    @staticmethod
    def actor_of(who: Requester) -> Actor:
        return Actor(user_id=who.user_id, moderator=who.moderator)

    # ---- the pipeline ------------------------------------------------------------------------
    def remember(
        self, who: Requester, name: str, description: str, images: list[bytes], request_id: str | None = None
    ) -> RememberResult:
        scope = self.scope_of(who)
        outcome = self.pipeline.remember(scope.id, self.actor_of(who), name, description, images, request_id)
        if isinstance(outcome, CandidatesFound):
            return RememberResult(
                status="candidates",
                pending_id=outcome.pending_id,
                candidates=outcome.candidates,
                annotated_image=outcome.annotated_jpeg,
            )
        return RememberResult(
            status="stored",
            concept=summary(outcome.concept),
            views_added=outcome.views_added,
            lookalikes=self.indexer.lookalikes(scope, outcome.concept.id),
        )

    def choose(self, who: Requester, pending_id: str, choice: int | str) -> RememberResult:
        scope = self.scope_of(who)
        stored = self.pipeline.choose(scope.id, self.actor_of(who), pending_id, choice)
        if stored is None:
            return RememberResult(status="cancelled")
        return RememberResult(
            status="stored",
            concept=summary(stored.concept),
            views_added=stored.views_added,
            lookalikes=self.indexer.lookalikes(scope, stored.concept.id),
        )

    def add_view(self, who: Requester, name: str, image: bytes, request_id: str | None = None) -> ConceptSummary:
        scope = self.scope_of(who)
        return summary(self.pipeline.add_view(scope.id, self.actor_of(who), name, image, request_id))

    def answer(self, who: Requester, image: bytes | None, text: str | None) -> AnswerResult:
        scope = self.scope_of(who)
        with ANSWERS:  # the photo index waits while an answer runs (worker/domain/indexing.py)
            return self.pipeline.answer([scope.id], {scope.id: self.store.effective_threshold(scope)}, image, text)

    # ---- the store alone ---------------------------------------------------------------------
    def feedback(self, who: Requester, feedback_id: str, name: str | None, correct: bool) -> ConceptSummary:
        """Yes / no to a concept recognised in a photo answer (worker/domain/learning.py)."""
        scope = self.scope_of(who)
        if self._pending is None:
            raise RapError(NO_FEEDBACK, "This worker keeps no answers to learn from.")
        waiting = self._pending.get(feedback_id, PendingFeedback) if feedback_id else None
        concept = give_feedback(
            self.store, self._pending, scope.id, self.actor_of(who), feedback_id, name, bool(correct)
        )
        if waiting is None or not is_face_encoder(waiting.encoder):
            return summary(concept)
        faces = sum(is_face_encoder(view.encoder) for view in self.store.views(concept.id))
        return summary(concept).model_copy(update={"face_count": faces})  # a face was learned: say so

    def list_concepts(self, who: Requester, offset: int = 0, limit: int = 20) -> ConceptPage:
        scope = self.scope_of(who)
        page = self.store.list_concepts(scope.id, self.actor_of(who), offset, limit)
        return ConceptPage(
            items=[summary(c) for c in page.items], total=page.total, offset=page.offset, limit=page.limit
        )

    def show(self, who: Requester, name: str) -> ConceptDetail:
        scope = self.scope_of(who)
        concept, views = self.store.concept_views(scope.id, self.actor_of(who), name)
        negatives: list[ViewInfo] = []
        if concept.negative_count:  # one more read, only for a concept someone said "no" about
            _, negatives = self.store.concept_views(scope.id, self.actor_of(who), name, negative=True)
        return ConceptDetail(
            concept=summary(concept),
            images=[view.image_jpeg for view in views],
            negatives=[view.image_jpeg for view in negatives],
        )

    def edit(self, who: Requester, name: str, description: str) -> ConceptSummary:
        scope = self.scope_of(who)
        return summary(self.store.edit_description(scope.id, self.actor_of(who), name, description))

    def rename(self, who: Requester, old: str, new: str) -> ConceptSummary:
        scope = self.scope_of(who)
        return summary(self.store.rename(scope.id, self.actor_of(who), old, new))

    def recategorise(self, who: Requester, name: str, category: str) -> ConceptSummary:
        scope = self.scope_of(who)
        return summary(self.store.set_category(scope.id, self.actor_of(who), name, category))

    def forget(self, who: Requester, name: str) -> None:
        scope = self.scope_of(who)
        self.store.forget(scope.id, self.actor_of(who), name)

    def share(self, who: Requester, name: str) -> ConceptSummary:
        if who.chat_kind != "group" or not who.chat_id:
            raise RapError(BAD_REQUEST, "Share from inside the group you want to share with.")
        group = self.scope_of(who)
        own = self.store.scope(who.platform, ScopeKind.USER, who.user_id)
        return summary(self.store.share(own.id, group.id, self.actor_of(who), name))

    def export(self, who: Requester) -> bytes:
        archive = self.store.export_user(who.platform, self.actor_of(who))
        return self._photo_index.export_into(archive, who.platform, self.actor_of(who))  # the photos they posted

    def erase(self, who: Requester) -> ErasureSummary:
        report = self.store.erase_user(who.platform, self.actor_of(who))
        self._photo_index.erase_member(who.platform, self.actor_of(who))  # the photos they posted, indexed
        self._seen = {pair for pair in self._seen if pair[1] != who.user_id}  # their members_seen rows are gone
        return ErasureSummary(
            concepts_deleted=report.concepts_deleted,
            views_deleted=report.views_deleted,
            scopes_deleted=report.scopes_deleted,
        )

    def get_settings(self, who: Requester) -> GroupSettings:
        """A read: a memory not stored yet has the default settings, and none is created."""
        kind, external_id = self._scope_key(who)
        found = self.store.find_scope(who.platform, kind, external_id)
        if found is None:
            return GroupSettings(
                locked=False, similarity_threshold=self.store.default_similarity_threshold, auto_caption=False
            )
        return self._group_settings(self.store.get_settings(found.id, self.actor_of(who)))

    def update_settings(
        self,
        who: Requester,
        *,
        locked: bool | None = None,
        similarity_threshold: float | None = None,
        auto_caption: bool | None = None,
    ) -> GroupSettings:
        scope = self.scope_of(who)
        updated = self.store.update_settings(
            scope.id,
            self.actor_of(who),
            locked=locked,
            similarity_threshold=similarity_threshold,
            auto_caption=auto_caption,
        )
        return self._group_settings(updated)

    def _group_settings(self, scope: ScopeInfo) -> GroupSettings:
        return GroupSettings(
            locked=scope.settings.locked,
            similarity_threshold=self.store.effective_threshold(scope),
            auto_caption=scope.settings.auto_caption,
        )

    def audit(self, who: Requester, limit: int = 20) -> list[AuditItem]:
        scope = self.scope_of(who)
        entries = self.store.audit(scope.id, self.actor_of(who), limit)
        return [
            AuditItem(
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                concept=_concept_name(entry.details),
                details=entry.details,
            )
            for entry in entries
        ]

    def purge(self, who: Requester, member_id: str) -> int:
        if who.chat_kind != "group":
            raise RapError(BAD_REQUEST, "Purge works in a group chat.")
        scope = self.scope_of(who)
        purged = self.store.purge_member(scope.id, self.actor_of(who), member_id)
        self._photo_index.purge_member(scope.id, self.actor_of(who), member_id)  # and their indexed photos
        return purged

    # ---- the web gallery ---------------------------------------------------------------------
    def group_chats(self, who: Requester, candidates: list[str] | None = None) -> list[str]:
        """The group chats the gallery may ask `who`'s platform about for them (nothing here reads a
        memory's contents): of `candidates`, those with a memory; else those they were seen in."""
        return self.store.group_chats(who.platform, self.actor_of(who), candidates)

    def permissions(self, who: Requester, name: str | None = None) -> Permissions:
        kind, external_id = self._scope_key(who)
        found = self.store.permissions(who.platform, kind, external_id, self.actor_of(who), name)
        return Permissions(may_write=found.may_write, may_change=found.may_change, may_moderate=found.may_moderate)

    def open_session(self, who: Requester, session_hash: str, max_age_s: int, sign_in_nonce: str | None = None) -> None:
        self.store.open_web_session(who.platform, self.actor_of(who), session_hash, max_age_s, sign_in_nonce)

    def session_active(self, who: Requester, session_hash: str) -> bool:
        return self.store.web_session_active(who.platform, self.actor_of(who), session_hash)

    def end_sessions(self, who: Requester, session_hash: str | None = None) -> int:
        return self.store.end_web_sessions(who.platform, self.actor_of(who), session_hash)

    # ---- the photo index (worker/domain/indexing.py, memory/photo_index.py) --------------------
    @property
    def indexer(self) -> Indexer:
        if self._indexer is None:
            self._indexer = Indexer(self.pipeline, self._photo_index)
        return self._indexer

    def index_photo(
        self,
        who: Requester,
        images: list[bytes],
        locations: list[str],
        request_id: str | None = None,
        posted_at: list[float] | None = None,
    ) -> IndexedPhotos:
        scope = self.scope_of(who)
        threshold = self.store.effective_threshold(scope)
        actor = self.actor_of(who)
        return self.indexer.index_photos(scope.id, threshold, actor, images, locations, request_id, posted_at)

    def find_photos(self, who: Requester, query: str, limit: int = 10) -> FindResult:
        return self.indexer.find(self.scope_of(who).id, self.actor_of(who), query, limit)

    def photo_index(
        self,
        who: Requester,
        enabled: bool | None = None,
        retention_days: int | None = None,
        keep_thumbnails: bool | None = None,
    ) -> PhotoIndexStatus:
        scope, actor = self.scope_of(who), self.actor_of(who)
        if enabled is None and retention_days is None and keep_thumbnails is None:
            status = self._photo_index.status(scope.id, actor)
        else:
            status = self._photo_index.switch(
                scope.id, actor, enabled=enabled, retention_days=retention_days, keep_thumbnails=keep_thumbnails
            )
        return PhotoIndexStatus(
            enabled=status.settings.enabled,
            since=status.settings.since,
            retention_days=status.settings.retention_days,
            keep_thumbnails=status.settings.keep_thumbnails,
            photos=status.photos,
        )

    def delete_photo_index(self, who: Requester) -> int:
        return self._photo_index.delete_all(self.scope_of(who).id, self.actor_of(who))


def _concept_name(details: dict[str, object]) -> str | None:
    name = details.get("name")
    return name if isinstance(name, str) else None
