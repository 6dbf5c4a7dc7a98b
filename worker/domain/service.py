"""Every client operation as one blocking call over (store, pipeline): which scope a request reads
and writes (its user's own memory, or the group it comes from), passing the requester as the actor of
every store call so memory.policy decides what it may do; results turned into worker.schemas
(worker.domain.runtime turns every error into a RapError). LocalClient runs these in a thread; the Celery
tasks run the very same methods, so both give the same result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memory.errors import UnknownScope
from memory.types import Actor, ConceptInfo, ScopeInfo, ScopeKind, ViewInfo
from worker.domain.learning import give_feedback
from worker.domain.pending import PendingStore
from worker.domain.pipeline import CandidatesFound, Pipeline
from worker.errors import BAD_REQUEST, NO_FEEDBACK, RapError
from worker.schemas import (
    AnswerResult,
    AuditItem,
    ConceptDetail,
    ConceptPage,
    ConceptSummary,
    ErasureSummary,
    GroupSettings,
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

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:  # a store-only worker: the client routes these elsewhere
            raise RapError(BAD_REQUEST, "This worker serves the memory only; photos and questions go to a GPU worker.")
        return self._pipeline

    # ---- who reads and writes what -----------------------------------------------------------
    def scope_of(self, who: Requester) -> ScopeInfo:
        """A DM reads and writes the user's memory; a group chat the group's. A scope's id never
        changes, so it is remembered: later requests read the scope instead of upserting it."""
        if who.chat_kind == "group":
            if not who.chat_id:
                raise RapError(BAD_REQUEST, "A group request needs the group's chat id.")
            key = (who.platform, ScopeKind.GROUP, who.chat_id)
        else:
            key = (who.platform, ScopeKind.USER, who.user_id)
        known = self._scope_ids.get(key)
        if known is not None:
            try:
                return self.store.get_scope(known)
            except UnknownScope:  # erased since: make it anew
                self._scope_ids.pop(key, None)
        scope = self.store.scope(*key)
        if len(self._scope_ids) >= SCOPE_CACHE_SIZE:
            self._scope_ids.clear()
        self._scope_ids[key] = scope.id
        return scope

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
        return RememberResult(status="stored", concept=summary(outcome.concept), views_added=outcome.views_added)

    def choose(self, who: Requester, pending_id: str, choice: int | str) -> RememberResult:
        scope = self.scope_of(who)
        stored = self.pipeline.choose(scope.id, self.actor_of(who), pending_id, choice)
        if stored is None:
            return RememberResult(status="cancelled")
        return RememberResult(status="stored", concept=summary(stored.concept), views_added=stored.views_added)

    def add_view(self, who: Requester, name: str, image: bytes, request_id: str | None = None) -> ConceptSummary:
        scope = self.scope_of(who)
        return summary(self.pipeline.add_view(scope.id, self.actor_of(who), name, image, request_id))

    def answer(self, who: Requester, image: bytes | None, text: str | None) -> AnswerResult:
        scope = self.scope_of(who)
        return self.pipeline.answer([scope.id], {scope.id: self.store.effective_threshold(scope)}, image, text)

    # ---- the store alone ---------------------------------------------------------------------
    def feedback(self, who: Requester, feedback_id: str, name: str | None, correct: bool) -> ConceptSummary:
        """Yes / no to a concept recognised in a photo answer (worker/domain/learning.py)."""
        scope = self.scope_of(who)
        if self._pending is None:
            raise RapError(NO_FEEDBACK, "This worker keeps no answers to learn from.")
        return summary(
            give_feedback(self.store, self._pending, scope.id, self.actor_of(who), feedback_id, name, bool(correct))
        )

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
        return self.store.export_user(who.platform, self.actor_of(who))

    def erase(self, who: Requester) -> ErasureSummary:
        report = self.store.erase_user(who.platform, self.actor_of(who))
        return ErasureSummary(
            concepts_deleted=report.concepts_deleted,
            views_deleted=report.views_deleted,
            scopes_deleted=report.scopes_deleted,
        )

    def get_settings(self, who: Requester) -> GroupSettings:
        return self._group_settings(self.store.get_settings(self.scope_of(who).id, self.actor_of(who)))

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
        return self.store.purge_member(scope.id, self.actor_of(who), member_id)

    # ---- the web gallery ---------------------------------------------------------------------
    def group_chats(self, platform: str) -> list[str]:
        """The chat ids of every group memory on `platform` (the gallery asks the platform which
        of them a signed-in user belongs to; nothing here reads a memory's contents)."""
        return self.store.group_chats(platform)


def _concept_name(details: dict[str, object]) -> str | None:
    name = details.get("name")
    return name if isinstance(name, str) else None
