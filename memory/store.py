"""MemoryStore: the API of memory/ (the service over memory/repositories, Immich-style). Plain values
(memory/types.py) in and out, never ORM objects. Each operation opens its transaction, locks its scope
row, asks memory/policy.py whether the actor may, calls the repositories and writes the audit; so the
checks (permission, quota, duplicate name, request id) and the write are one serial step per scope,
and a raised error means nothing was changed.

Every read and write a frontend can reach takes the actor. The pipeline-internal reads
(check_name_free, get_by_names, all_names, views, categories, encoders, search, get_scope) take scope
or concept ids that worker/domain/service.py derived from the requester (their own memory, the group they
are in), so they check nothing themselves.

One module (over 400 lines) because it is the store's whole API, one method per operation, each a
short transaction over the repositories; the SQL itself lives in memory/repositories/."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from functools import partial

import numpy as np
import numpy.typing as npt
import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from memory import policy
from memory import validation as v
from memory.database import create_store_engine, open_engine, translate_unavailable
from memory.errors import (
    AlreadyUsed,
    CommitUnconfirmed,
    DuplicateName,
    DuplicatePhoto,
    InvalidEmbedding,
    InvalidSetting,
    PermissionDenied,
    QuotaExceeded,
    UnknownConcept,
)
from memory.export import export_zip
from memory.repositories import audit as audit_log
from memory.repositories import concepts, dead_letters, reembedding, scopes, search, views, web
from memory.search_cache import ScopeViews, SearchCache, rank
from memory.settings import MemorySettings
from memory.types import (
    FACE_ENCODER_PREFIX,
    Actor,
    AuditEntry,
    ConceptInfo,
    ConceptPage,
    DeadLetterInfo,
    ErasureReport,
    NewView,
    Permissions,
    ScopeInfo,
    ScopeKind,
    ScopeSettings,
    SearchHit,
    ViewInfo,
    is_face_encoder,
)

MAX_PAGE = 100
MAX_AUDIT = 1000
COMMIT_UNCONFIRMED_MESSAGE = (
    "The memory database stopped answering while saving, so it is not known whether this was saved."
)
# The session of the unit of work this thread (or task) is in, if any (MemoryStore.unit_of_work).
_open_session: ContextVar[Session | None] = ContextVar("rapbot_store_unit_of_work", default=None)


class MemoryStore:
    """Scopes, concepts, views and audit on Postgres + pgvector, under memory.policy."""

    def __init__(self, url_or_engine: str | Engine, settings: MemorySettings | None = None) -> None:
        self.settings = settings or MemorySettings()
        self._owns_engine = isinstance(url_or_engine, str)
        self.engine = (
            create_store_engine(url_or_engine, self.settings) if isinstance(url_or_engine, str) else url_or_engine
        )
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.search_cache = SearchCache(int(self.settings.search_cache_mb * 2**20))
        # Runs right before every commit; raising there writes nothing (worker/domain/runtime.py
        # sets the request's deadline check).
        self.before_commit: Callable[[], None] | None = None

    @classmethod
    def open(cls, settings: MemorySettings | None = None) -> MemoryStore:
        """The store on RAPBOT_DATABASE_URL, or on the embedded Postgres under the data dir; migrated."""
        settings = settings or MemorySettings()
        store = cls(open_engine(settings), settings)
        store._owns_engine = True
        return store

    def close(self) -> None:
        self.search_cache.close()
        if self._owns_engine:
            self.engine.dispose()

    def ping(self) -> None:
        """One round trip to Postgres (health checks); raises when it does not answer."""
        with translate_unavailable(), self.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def default_similarity_threshold(self) -> float:
        return self.settings.default_similarity_threshold

    def effective_threshold(self, scope: ScopeInfo) -> float:
        """The scope's own threshold, else the store's default."""
        own = scope.settings.similarity_threshold
        return self.default_similarity_threshold if own is None else own

    # ---- plumbing -------------------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Every write of this block (this thread or task) in ONE transaction: all of it is stored
        or none (a remember: its concept, every photo and face). Each write inside runs in a
        savepoint, so one refused by a rule (a repeated face) leaves the others; nested blocks join
        the outer one. Before the commit `before_commit` runs (a request's deadline)."""
        if _open_session.get() is not None:
            yield
            return
        with self._tx() as session:
            token = _open_session.set(session)
            try:
                yield
            finally:
                _open_session.reset(token)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One write: its own transaction, or a savepoint of the unit of work it runs in. A failure
        before the commit changed nothing (StoreUnavailable); one during the commit may have
        (CommitUnconfirmed)."""
        outer = _open_session.get()
        if outer is not None:
            with translate_unavailable(), outer.begin_nested():
                yield outer
            return
        with translate_unavailable(), Session(self.engine, expire_on_commit=False) as session:
            session.begin()
            try:
                yield session
                session.flush()
                if self.before_commit is not None:
                    self.before_commit()  # e.g. the request's deadline: past it, write nothing
            except BaseException:
                with suppress(Exception):  # a dead connection cannot roll back; closing it does
                    session.rollback()
                raise
            try:
                session.commit()
            except (DBAPIError, psycopg.Error):  # the connection lost, or ended by Postgres (idle timeout)
                raise CommitUnconfirmed(COMMIT_UNCONFIRMED_MESSAGE) from None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """Reads run in autocommit: one round trip per statement, no BEGIN/COMMIT."""
        with translate_unavailable(), self._reader.connect() as conn, Session(bind=conn) as session:
            yield session

    @staticmethod
    def _refuse_taken(
        s: Session,
        scope_id: int,
        name: str,
        same_message: str,
        *,
        exclude: int | None = None,
        where: str = "this memory",
    ) -> None:
        """DuplicateName when `name` clashes with a name in the scope: `same_message` for the same
        name, the lookalike message for one that only looks the same."""
        taken = concepts.taken(s, scope_id, name, exclude)
        if taken is None:
            return
        existing, same = taken
        if same:
            raise DuplicateName(same_message)
        raise DuplicateName(
            f'"{v.shorten(name)}" looks the same as <{existing}>, which is already in {where}: pick another name.'
        )

    def _check_dim(self, s: Session, scope_id: int, encoder: str, dim: int) -> None:
        existing = views.stored_dim(s, [scope_id], encoder)
        if existing is not None and existing != dim:
            raise InvalidEmbedding(
                f"This embedding has {dim} numbers but this memory's {encoder} embeddings have {existing}."
            )

    def _check_concept_quota(self, s: Session, scope_id: int) -> None:
        limit = self.settings.max_concepts_per_scope
        if concepts.count(s, [scope_id]) >= limit:
            raise QuotaExceeded(f"This memory is full ({limit} things). Forget something first.")

    # ---- scopes ----------------------------------------------------------------------------------

    def scope(self, platform: str, kind: ScopeKind | str, external_id: str) -> ScopeInfo:
        """Get or create the scope (race-safe)."""
        try:
            kind_value = ScopeKind(kind).value
        except ValueError:
            raise InvalidSetting(f"A memory is of kind 'user' or 'group', not {kind!r}.") from None
        platform, external_id = str(platform).strip(), str(external_id).strip()
        if not (1 <= len(platform) <= 32 and 1 <= len(external_id) <= 128) or v.has_control(platform + external_id):
            raise InvalidSetting("A memory needs a platform (1..32 chars) and a chat or user id (1..128 chars).")
        with self._tx() as s:
            return scopes.upsert(s, platform, kind_value, external_id)

    def get_scope(self, scope_id: int) -> ScopeInfo:
        """The scope by id (pipeline-internal: worker/domain/service.py's cache of the requester's scope)."""
        with self._read() as s:
            return scopes.get(s, scope_id)

    def get_settings(self, scope_id: int, actor: Actor) -> ScopeInfo:
        """The scope with its settings, for anyone who may read it (a group's members too)."""
        with self._read() as s:
            scope = scopes.get(s, scope_id)
        policy.may_read(scope, actor)
        return scope

    def group_chats(
        self, platform: str, actor: Actor, candidates: Sequence[str] | None = None, limit: int = 50
    ) -> list[str]:
        """The group memories on a platform that `actor` may belong to, for the web gallery to ask
        the platform about: of `candidates` (chats the platform already says they are in, e.g. a
        Discord user's guilds), the ones with a memory; without candidates, the groups the actor
        was seen asking in or added to, newest first, at most `limit`. Ids only."""
        policy.valid_actor(actor)
        limit = max(1, min(int(limit), MAX_PAGE))
        with self._read() as s:
            if candidates is not None:
                return web.known_groups(s, platform, [str(c) for c in candidates][: MAX_PAGE * 10])
            return web.seen_groups(s, platform, actor.user_id, limit)

    def find_scope(self, platform: str, kind: ScopeKind | str, external_id: str) -> ScopeInfo | None:
        """The scope if it exists (reads that must not create one: settings, permissions)."""
        with self._read() as s:
            return scopes.find(s, platform, ScopeKind(kind).value, external_id)

    def permissions(
        self, platform: str, kind: ScopeKind | str, external_id: str, actor: Actor, name: str | None = None
    ) -> Permissions:
        """What memory.policy allows `actor` in this memory now, for a page to offer only that (the
        writes ask the policy again). Creates no scope: a memory not stored yet has the defaults.
        UnknownConcept when `name` is not in it; PermissionDenied when the actor may not read it."""
        scope = self.find_scope(platform, kind, external_id)
        if scope is None:
            scope = ScopeInfo(0, platform, ScopeKind(kind), external_id, ScopeSettings())
        policy.may_read(scope, actor)
        author = actor.user_id
        if name is not None:
            if scope.id == 0:
                raise UnknownConcept(f'There is nothing called "{v.shorten(name)}" in this memory.')
            with self._read() as s:
                concept = concepts.find(s, scope.id, name)
            author, name = concept.created_by, concept.name

        def allowed(check: Callable[[], None]) -> bool:
            try:
                check()
            except PermissionDenied:
                return False
            return True

        return Permissions(
            may_write=allowed(lambda: policy.may_write(scope, actor)),
            may_change=allowed(lambda: policy.may_write(scope, actor, author, name or "")),
            may_moderate=allowed(lambda: policy.may_moderate(scope, actor, policy.ModeratorAction.SETTINGS)),
        )

    def note_member(self, scope_id: int, user_id: str) -> None:
        """Remember that `user_id` asked in this group memory (members_seen; once per pair)."""
        with self._tx() as s:
            web.note_member(s, scope_id, user_id)

    def check_can_write(self, scope_id: int, actor: Actor) -> None:
        """Raise PermissionDenied now when `actor` may not add to this memory (a locked group), so
        callers can refuse before expensive work; the writes themselves check again."""
        with self._read() as s:
            policy.may_write(scopes.get(s, scope_id), actor)

    def check_name_free(self, scope_id: int, name: str) -> None:
        """Raise InvalidName or DuplicateName now when `name` could not be added to this memory (the
        same name, or one that looks the same), so callers can refuse before expensive work; the
        writes themselves check again."""
        clean = v.clean_name(name)
        with self._read() as s:
            self._refuse_taken(
                s, scope_id, clean, f'"{clean}" is already in this memory. Pick another name, or add a photo to it.'
            )

    def update_settings(
        self,
        scope_id: int,
        actor: Actor,
        locked: bool | None = None,
        similarity_threshold: float | None = None,
        auto_caption: bool | None = None,
    ) -> ScopeInfo:
        """Change the given settings (None leaves one as it is). Moderators only in a group."""
        if similarity_threshold is not None and not (
            isinstance(similarity_threshold, int | float) and 0.0 <= similarity_threshold <= 1.0
        ):
            raise InvalidSetting("The similarity threshold must be a number from 0 to 1 (e.g. 0.75).")
        changes = {
            field: value
            for field, value in (
                ("locked", locked),
                ("similarity_threshold", similarity_threshold),
                ("auto_caption", auto_caption),
            )
            if value is not None
        }
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            policy.may_change_settings(
                scope,
                actor,
                locked="locked" in changes,
                threshold="similarity_threshold" in changes,
                auto_caption="auto_caption" in changes,
            )
            updated = scopes.update_settings(s, scope_id, changes)
            audit_log.record(s, scope_id, actor.user_id, "settings", None, **changes)
            return updated

    # ---- writes ----------------------------------------------------------------------------------

    def add_concept(
        self,
        scope_id: int,
        actor: Actor,
        name: str,
        description: str,
        category: str,
        view: NewView,
        request_id: str | None = None,
    ) -> ConceptInfo:
        """Remember a new concept with its first view. A repeated request_id returns the concept it
        made, writing nothing."""
        policy.valid_actor(actor)
        v.check_request_id(request_id)
        clean = v.clean_name(name)
        desc = v.clean_description(description, self.settings.max_description_chars)
        cat = v.clean_category(category)
        vec, encoder, box = v.check_view(view, self.settings.max_image_bytes)
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            if request_id is not None:
                done = concepts.for_request(s, scope_id, request_id)
                if done is not None:  # a replay: only if the policy, as it is now, still allows it
                    made = concepts.info(s, done)
                    policy.may_write(scope, actor, made.created_by, made.name)
                    return made
            policy.may_write(scope, actor)
            self._refuse_taken(
                s, scope_id, clean, f'"{clean}" is already in this memory. Pick another name, or add a photo to it.'
            )
            self._check_concept_quota(s, scope_id)
            self._check_dim(s, scope_id, encoder, int(vec.shape[0]))
            concept_id = concepts.insert(s, scope_id, clean, desc, cat, actor.user_id, request_id=request_id)
            views.insert(s, concept_id, scope_id, vec, encoder, box, view.image_jpeg)
            made = concepts.info(s, concept_id)
            audit_log.record(s, scope_id, actor.user_id, "add", made, name=clean, category=cat)
            return made

    def add_view(
        self,
        scope_id: int,
        actor: Actor,
        name: str,
        view: NewView,
        request_id: str | None = None,
        *,
        negative: bool = False,
        action: str | None = None,
    ) -> ConceptInfo:
        """Add another reference image to a concept, up to the per-concept limit. `negative`: a crop
        the user said is NOT this concept (it counts against the same limit and only vetoes matches).
        `action` names the audit record ("confirm", "reject"; default "add_view", or "reject" for a
        negative one)."""
        policy.valid_actor(actor)
        v.check_request_id(request_id)
        vec, encoder, box = v.check_view(view, self.settings.max_image_bytes)
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            if request_id is not None:
                done = views.concept_for_request(s, scope_id, request_id)
                if done is not None:  # a replay: only if the policy, as it is now, still allows it
                    made = concepts.info(s, done)
                    policy.may_write(scope, actor, made.created_by, made.name)
                    return made
            concept = concepts.find(s, scope_id, name)
            policy.may_write(scope, actor, concept.created_by, concept.name)
            # Photos and face views (one per photo at most) each count against the limit on their own.
            held = [h for h in views.encodings(s, concept.id) if is_face_encoder(h[0]) == is_face_encoder(encoder)]
            # Another encoder's views are fine: after an encoder change the new photo is stored with the
            # new encoder, and `rapbot memory reembed` brings the older ones over (memory/reembed.py).
            self._check_dim(s, scope_id, encoder, int(vec.shape[0]))
            # The very same view again (a retried add whose reply was lost): say it is there.
            already = views.holding(s, concept.id, view.image_jpeg, vec)
            if already is not None:
                if already:
                    raise DuplicatePhoto(f"This was already noted as not <{concept.name}>: nothing added.")
                own = sum(1 for *_, is_negative in held if not is_negative)
                photos = f"{own} photo" if own == 1 else f"{own} photos"
                raise DuplicatePhoto(f"<{concept.name}> already has this photo ({photos}): nothing added.")
            limit = self.settings.max_views_per_concept
            if len(held) >= limit:
                negatives = sum(1 for *_, is_negative in held if is_negative)
                counted = f" (counting {negatives} it is not)" if negatives else ""
                raise QuotaExceeded(
                    f'"{concept.name}" already has {limit} photos{counted}, the most one thing can have.'
                )
            views.insert(s, concept.id, scope_id, vec, encoder, box, view.image_jpeg, request_id, negative=negative)
            updated = concepts.update_fields(s, concept.id)
            recorded = action or ("reject" if negative else "add_view")
            audit_log.record(s, scope_id, actor.user_id, recorded, updated, name=concept.name)
            return updated

    def edit_description(self, scope_id: int, actor: Actor, name: str, description: str) -> ConceptInfo:
        desc = v.clean_description(description, self.settings.max_description_chars)
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            concept = concepts.find(s, scope_id, name)
            policy.may_write(scope, actor, concept.created_by, concept.name)
            updated = concepts.update_fields(s, concept.id, description=desc)
            audit_log.record(s, scope_id, actor.user_id, "edit", updated, name=concept.name)
            return updated

    def rename(self, scope_id: int, actor: Actor, old: str, new: str) -> ConceptInfo:
        clean = v.clean_name(new)
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            concept = concepts.find(s, scope_id, old)
            policy.may_write(scope, actor, concept.created_by, concept.name)
            self._refuse_taken(s, scope_id, clean, f'"{clean}" is already in this memory.', exclude=concept.id)
            updated = concepts.update_fields(s, concept.id, name=clean)
            audit_log.record(s, scope_id, actor.user_id, "rename", updated, old=concept.name, new=clean)
            return updated

    def set_category(self, scope_id: int, actor: Actor, name: str, category: str) -> ConceptInfo:
        cat = v.clean_category(category)
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            concept = concepts.find(s, scope_id, name)
            policy.may_write(scope, actor, concept.created_by, concept.name)
            updated = concepts.update_fields(s, concept.id, category=cat)
            audit_log.record(
                s, scope_id, actor.user_id, "recategorise", updated, name=concept.name, old=concept.category, new=cat
            )
            return updated

    def forget(self, scope_id: int, actor: Actor, name: str) -> None:
        """Hard delete: the concept, its views, their images and embeddings."""
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            concept = concepts.find(s, scope_id, name)
            policy.may_write(scope, actor, concept.created_by, concept.name)
            concepts.delete_ids(s, [concept.id])
            audit_log.record(s, scope_id, actor.user_id, "forget", concept, name=concept.name)

    def share(self, from_scope_id: int, to_scope_id: int, actor: Actor, name: str) -> ConceptInfo:
        """Copy a concept and its views into a group's memory, created by `actor` (see policy)."""
        policy.valid_actor(actor)
        if from_scope_id == to_scope_id:
            raise InvalidSetting("That thing is already in this memory.")
        with self._tx() as s:
            # Lock both scopes in id order so two opposite shares cannot deadlock.
            locked = {sid: scopes.lock(s, sid) for sid in sorted((from_scope_id, to_scope_id))}
            source_scope, target = locked[from_scope_id], locked[to_scope_id]
            policy.may_share(source_scope, target, actor)
            source = concepts.find(s, from_scope_id, name)
            policy.may_share_concept(source_scope, actor, source.created_by, source.name)
            self._refuse_taken(
                s,
                to_scope_id,
                source.name,
                f'"{source.name}" is already in that memory. Rename one of them first.',
                where="that memory",
            )
            self._check_concept_quota(s, to_scope_id)
            held = views.encodings(s, source.id)
            if held:
                self._check_dim(s, to_scope_id, held[0][0], held[0][1])
            copy_id = concepts.insert(
                s, to_scope_id, source.name, source.description, source.category, actor.user_id, shared_from=source.id
            )
            views.copy(s, source.id, copy_id, to_scope_id)
            copy = concepts.info(s, copy_id)
            audit_log.record(s, to_scope_id, actor.user_id, "share", copy, name=source.name)
            return copy

    # ---- reads a frontend reaches: the actor must be allowed to read the scope ------------------

    def list_concepts(self, scope_id: int, actor: Actor, offset: int = 0, limit: int = 20) -> ConceptPage:
        """One page of the scope's concepts, sorted by name."""
        offset, limit = max(0, int(offset)), max(1, min(int(limit), MAX_PAGE))
        with self._read() as s:
            policy.may_read(scopes.get(s, scope_id), actor)
            return concepts.page(s, scope_id, offset, limit)

    def get(self, scope_id: int, actor: Actor, name: str) -> ConceptInfo:
        with self._read() as s:
            policy.may_read(scopes.get(s, scope_id), actor)
            return concepts.find(s, scope_id, name)

    def concept_views(
        self, scope_id: int, actor: Actor, name: str, negative: bool = False
    ) -> tuple[ConceptInfo, list[ViewInfo]]:
        """A concept with its own photos (oldest first), for showing it; with `negative`, the crops
        said not to be it instead (faces included: a rejected face is one of them)."""
        with self._read() as s:
            policy.may_read(scopes.get(s, scope_id), actor)
            concept = concepts.find(s, scope_id, name)
            found = views.of_concepts(s, [concept.id], negative=negative)
            if negative:
                return concept, found
            return concept, [view for view in found if not is_face_encoder(view.encoder)]  # photos, no faces

    def audit(self, scope_id: int, actor: Actor, limit: int = 20) -> list[AuditEntry]:
        """The scope's latest audit entries, newest first (a group's moderators, or the owner)."""
        limit = max(1, min(int(limit), MAX_AUDIT))
        with self._read() as s:
            policy.may_moderate(scopes.get(s, scope_id), actor, policy.ModeratorAction.AUDIT)
            return audit_log.latest(s, scope_id, limit)

    # ---- pipeline-internal reads: scope ids the service derived from the requester ---------------

    def get_by_names(self, scope_ids: Sequence[int], names: Sequence[str]) -> list[ConceptInfo]:
        """The concepts with these names (case-folded + NFKC) in these scopes, in the order of the
        scopes then of the names. Unknown names are skipped."""
        keys = list(dict.fromkeys(v.name_key(n) for n in names if isinstance(n, str) and n.strip()))
        if not keys or not scope_ids:
            return []
        with self._read() as s:
            found = concepts.by_keys(s, scope_ids, keys)
        scope_rank = {sid: i for i, sid in enumerate(scope_ids)}
        key_rank = {k: i for i, k in enumerate(keys)}
        return sorted(found, key=lambda c: (scope_rank[c.scope_id], key_rank[v.name_key(c.name)]))

    def all_names(self, scope_ids: Sequence[int]) -> list[ConceptInfo]:
        """Every concept in these scopes, sorted by name (for matching names in a question)."""
        if not scope_ids:
            return []
        with self._read() as s:
            return concepts.all_in(s, scope_ids)

    def views(self, concept_id: int, negative: bool = False) -> list[ViewInfo]:
        """The concept's own views, oldest first (its photos, and the face views whose encoder id
        starts with "face:"); `negative=True`: the crops said not to be it."""
        with self._read() as s:
            return views.of_concepts(s, [concept_id], negative=negative)

    def categories(self, scope_ids: Sequence[int]) -> list[str]:
        if not scope_ids:
            return []
        with self._read() as s:
            return concepts.categories(s, scope_ids)

    def encoders(self, scope_ids: Sequence[int]) -> list[str]:
        if not scope_ids:
            return []
        with self._read() as s:
            return views.encoders(s, scope_ids)

    def awaiting_reembed(self, scope_ids: Sequence[int], encoder: str) -> list[int]:
        """Of these scopes, those with image views not yet re-embedded for `encoder` (memory/reembed.py):
        a search there would miss them, so the memory is still being updated."""
        if not scope_ids:
            return []
        with self._read() as s:
            return reembedding.scopes_awaiting(s.connection(), scope_ids, encoder, FACE_ENCODER_PREFIX)

    def search(
        self,
        scope_ids: Sequence[int],
        queries: npt.ArrayLike,
        encoder: str,
        k: int = 2,
        min_similarity: float | None = None,
        pooled: bool = True,
    ) -> list[SearchHit]:
        """For each query row its top-k views by cosine in these scopes (exact), pooled per concept
        (best similarity over views and queries), best first; hits under min_similarity dropped
        (None keeps all). Only the concepts' own views rank; each hit carries its concept's best
        similarity to its negative views for the same query row. `pooled=False`: one hit per (query
        row, concept), so a caller can judge each query row (e.g. veto by negatives) before pooling."""
        matrix = v.unit_vectors(queries, single=False)
        encoder = v.check_encoder(encoder)
        if k < 1:
            raise InvalidSetting("k must be at least 1.")
        if not scope_ids or matrix.shape[0] == 0:
            return []
        dim = int(matrix.shape[1])
        with self._read() as s:
            hits = self._nearest(s, scope_ids, matrix, encoder, k)
            if not hits:  # nothing stored for this encoder, or the query has the wrong dimension?
                stored = views.stored_dim(s, scope_ids, encoder)
                if stored is not None and stored != dim:
                    raise InvalidEmbedding(
                        f"The query has {dim} numbers but this memory's {encoder} embeddings have {stored}."
                    )
        best: dict[tuple[int, int], SearchHit] = {}
        for hit in hits:
            key = (hit.concept.id, 0 if pooled else hit.query_index)
            if key not in best or hit.similarity > best[key].similarity:
                best[key] = hit
        kept = [h for h in best.values() if min_similarity is None or h.similarity >= min_similarity]
        return sorted(kept, key=lambda h: (-h.similarity, h.concept.name, h.query_index))

    def _nearest(
        self, s: Session, scope_ids: Sequence[int], matrix: npt.NDArray[np.float32], encoder: str, k: int
    ) -> list[SearchHit]:
        """search.nearest's answer, from this process's current copies of the memories when it has
        them all (memory/search_cache.py): one query for the memories' numbers, then a matrix
        product. Otherwise the scan in Postgres, while the missing copies load in the background."""
        if not self.search_cache.enabled:
            return search.nearest(s, scope_ids, matrix, encoder, k)
        dim = int(matrix.shape[1])
        versions = search.search_versions(s, scope_ids)
        entries, missing = [], []
        for scope_id in dict.fromkeys(int(sid) for sid in scope_ids):
            if scope_id not in versions:
                continue  # no such memory: nothing in it
            key = (scope_id, encoder, dim)
            entry = self.search_cache.current(key, versions[scope_id])
            if entry is None:
                missing.append(key)
            else:
                entries.append(entry)
        if missing:
            for key in missing:
                self.search_cache.load_later(key, partial(self._load_copy, *key))
            return search.nearest(s, scope_ids, matrix, encoder, k)
        return rank(entries, matrix, k)

    def _load_copy(self, scope_id: int, encoder: str, dim: int) -> ScopeViews | None:
        with self._read() as s:
            return search.load_scope(s, scope_id, encoder, dim)

    # ---- dead letters: requests that stopped their worker on every delivery (operators only) -----

    def add_dead_letter(self, request_id: str, method: str, deliveries: int, cause: str) -> None:
        """Record a dead letter (once per request id). The worker calls this; no user reaches it."""
        v.check_request_id(request_id)
        with self._tx() as s:
            dead_letters.record(s, request_id, method[:64], deliveries, cause)

    def list_dead_letters(self) -> list[DeadLetterInfo]:
        with self._read() as s:
            return dead_letters.listed(s)

    def count_dead_letters(self) -> int:
        with self._read() as s:
            return dead_letters.count(s)

    def clear_dead_letters(self) -> int:
        with self._tx() as s:
            return dead_letters.clear(s)

    # ---- members and their data ------------------------------------------------------------------

    def purge_member(self, scope_id: int, actor: Actor, member_id: str) -> int:
        """Delete everything one member added to a group (moderators only). Returns concepts deleted."""
        with self._tx() as s:
            scope = scopes.lock(s, scope_id)
            policy.may_purge(scope, actor)
            ids = concepts.delete_by_author(s, scope_id, str(member_id))
            audit_log.record(s, scope_id, actor.user_id, "purge", None, member=str(member_id), concepts=len(ids))
            return len(ids)

    def export_user(self, platform: str, actor: Actor) -> bytes:
        """A zip of the actor's own data on a platform: concepts.json plus images/<view id>.<jpg|png>,
        for their own memory and for what they created in groups."""
        policy.valid_actor(actor)
        with self._read() as s:
            own = scopes.user_ids(s, platform, actor.user_id)
            contributed = concepts.contributed(s, platform, actor.user_id)
            rows = concepts.with_scopes(s, own, contributed)
            photos = views.of_concepts(s, [concept.id for concept, _ in rows])
        return export_zip(platform, actor.user_id, rows, photos)

    def erase_user(self, platform: str, actor: Actor) -> ErasureReport:
        """Erase the actor on a platform: their own scope(s) and everything they created in groups
        there. Audit rows about the erased data keep no names or details and no actor."""
        policy.valid_actor(actor)
        user_id = actor.user_id
        with self._tx() as s:
            own = scopes.user_ids(s, platform, user_id)
            contributed = concepts.contributed(s, platform, user_id)
            touched = concepts.scopes_of(s, contributed)
            for sid in sorted(set(own) | set(touched)):  # id order: no deadlock with other writers
                scopes.lock(s, sid)
            concepts_in_own = concepts.count(s, own)
            views_deleted = views.count(s, own, contributed)
            concepts.delete_ids(s, contributed)
            scopes.delete_ids(s, own)  # cascades concepts, views, audit rows
            audit_log.scrub_member(s, platform, user_id, contributed)
            web.forget_member(s, platform, user_id)  # not seen in groups any more; gallery sessions end
            for sid in touched:
                audit_log.record(s, sid, None, "erase_member", None)
            return ErasureReport(
                scopes_deleted=len(own),
                concepts_deleted=concepts_in_own + len(contributed),
                views_deleted=views_deleted,
            )

    # ---- the web gallery's sessions --------------------------------------------------------------

    def open_web_session(
        self, platform: str, actor: Actor, session_hash: str, max_age_s: int, sign_in_nonce: str | None = None
    ) -> None:
        """Record a gallery session (`session_hash`: SHA-256 hex of the cookie's random id).
        AlreadyUsed when `sign_in_nonce` signed in before (a console link works once)."""
        policy.valid_actor(actor)
        if not (isinstance(session_hash, str) and len(session_hash) == 64) or (
            (sign_in_nonce is not None and not (1 <= len(sign_in_nonce) <= 64)) or v.has_control(sign_in_nonce or "")
        ):
            raise InvalidSetting("A session needs its id's hash (64 hex digits) and a short nonce.")
        with self._tx() as s:
            if not web.open_session(s, session_hash, platform, actor.user_id, int(max_age_s), sign_in_nonce):
                raise AlreadyUsed("This sign-in link was already used: type /gallery in the console for a new one.")

    def web_session_active(self, platform: str, actor: Actor, session_hash: str) -> bool:
        policy.valid_actor(actor)
        with self._read() as s:
            return web.session_active(s, session_hash, platform, actor.user_id)

    def end_web_sessions(self, platform: str, actor: Actor, session_hash: str | None = None) -> int:
        """End the actor's session `session_hash`, or all their sessions on the platform (None)."""
        policy.valid_actor(actor)
        with self._tx() as s:
            return web.end_sessions(s, platform, actor.user_id, session_hash)
