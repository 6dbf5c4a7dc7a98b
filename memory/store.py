"""MemoryStore: the API of memory/. Plain values (memory/types.py) in and out, never ORM objects.
Every write locks its scope row first, so checks (quota, duplicate name, request id) and the write
are one serial step per scope; a raised error means nothing was changed."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, delete, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from memory import validation as v
from memory.database import create_store_engine, open_engine, translate_unavailable
from memory.errors import (
    DuplicateName,
    DuplicatePhoto,
    InvalidEmbedding,
    InvalidSetting,
    PermissionDenied,
    QuotaExceeded,
    StoreUnavailable,
    UnknownConcept,
    UnknownScope,
)
from memory.models import AuditEvent, Concept, Scope, View
from memory.settings import MemorySettings
from memory.types import (
    Actor,
    AuditEntry,
    ConceptInfo,
    ConceptPage,
    ErasureReport,
    NewView,
    ScopeInfo,
    ScopeKind,
    ScopeSettings,
    SearchHit,
    ViewInfo,
)

MAX_PAGE = 100
_LOCKED = "This group's memory is locked: only moderators can change it."

# Exact per-scope top-k for every query row in one statement (see DESIGN.md "Retrieval"): the btree
# on (scope_id, encoder) narrows to the readable scopes, then an exact sort by cosine distance. The
# concepts come back in the same round trip. The queries are cast to vector[] once up front: a
# per-row CAST(text AS vector) in the ORDER BY re-parses the query for every row (25x slower).
# Run on the raw psycopg cursor (see _vector_cursor): `%(queries)b` sends the query vectors in
# pgvector's binary format, which SQLAlchemy's text-format binds cannot. Stored and query vectors
# are unit length (validation.unit_vectors), so the inner product (`<#>`, negated) is the cosine
# similarity at a third of the cost of `<=>`, which recomputes both norms for every row.
_SEARCH_SQL = """
    WITH hits AS (
        SELECT q.idx - 1 AS query_index, hit.id AS view_id, hit.concept_id, -hit.negative_ip AS similarity
        FROM unnest(%(queries)b::vector[]) WITH ORDINALITY AS q(vec, idx)
        CROSS JOIN LATERAL (
            SELECT v.id, v.concept_id, v.embedding <#> q.vec AS negative_ip
            FROM views v
            WHERE v.scope_id = ANY(%(scopes)s) AND v.encoder = %(encoder)s AND v.dim = %(dim)s
            ORDER BY v.embedding <#> q.vec
            LIMIT %(k)s
        ) AS hit
    )
    SELECT h.query_index, h.view_id, h.similarity, c.id, c.scope_id, c.name, c.description, c.category,
           c.created_by, c.created_at, c.updated_at, c.shared_from,
           (SELECT count(*) FROM views cv WHERE cv.concept_id = c.id) AS view_count
    FROM hits h JOIN concepts c ON c.id = h.concept_id
"""


def _vector_cursor(session: Session) -> Any:
    """A raw psycopg cursor on the session's connection that sends numpy vectors in pgvector's
    binary format: formatting 768 floats as text in Python and parsing them again in Postgres cost
    over 1 ms per query vector. Only a dumper is registered (once per pooled connection), so what
    the ORM reads back is unchanged."""
    from psycopg.rows import namedtuple_row

    conn = session.connection()
    raw: Any = conn.connection.dbapi_connection
    if not conn.info.get("rapbot_binary_vectors"):
        from pgvector.psycopg.vector import VectorBinaryDumper
        from psycopg.types import TypeInfo

        info = TypeInfo.fetch(raw, "vector")
        if info is None:  # pragma: no cover - the migrations create the extension before any search
            raise StoreUnavailable("The database has no pgvector extension; run `rapbot db upgrade`.")
        info.register(raw)  # also teaches psycopg vector[] for lists of vectors
        dumper = type("QueryVectorDumper", (VectorBinaryDumper,), {"oid": info.oid})
        raw.adapters.register_dumper("numpy.ndarray", dumper)
        conn.info["rapbot_binary_vectors"] = True
    return raw.cursor(row_factory=namedtuple_row)


def _view_count() -> Any:
    return select(func.count(View.id)).where(View.concept_id == Concept.id).correlate(Concept).scalar_subquery()


def _concept_info(row: Concept, view_count: int) -> ConceptInfo:
    return ConceptInfo(
        id=row.id,
        scope_id=row.scope_id,
        name=row.name,
        description=row.description,
        category=row.category,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        view_count=int(view_count),
        shared_from=row.shared_from,
    )


def _scope_info(row: Scope) -> ScopeInfo:
    return ScopeInfo(
        id=row.id,
        platform=row.platform,
        kind=ScopeKind(row.kind),
        external_id=row.external_id,
        settings=ScopeSettings(
            locked=row.locked, similarity_threshold=row.similarity_threshold, auto_caption=row.auto_caption
        ),
    )


def _view_info(row: View) -> ViewInfo:
    box = tuple(row.box) if row.box is not None else None
    return ViewInfo(
        id=row.id,
        concept_id=row.concept_id,
        encoder=row.encoder,
        box=box,  # type: ignore[arg-type]
        image_jpeg=bytes(row.image),
        created_at=row.created_at,
    )


class MemoryStore:
    """Scopes, concepts, views and audit on Postgres + pgvector."""

    def __init__(self, url_or_engine: str | Engine, settings: MemorySettings | None = None) -> None:
        self.settings = settings or MemorySettings()
        self._owns_engine = isinstance(url_or_engine, str)
        self.engine = create_store_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def open(cls, settings: MemorySettings | None = None) -> MemoryStore:
        """The store on RAPBOT_DATABASE_URL, or on the embedded Postgres under the data dir; migrated."""
        settings = settings or MemorySettings()
        store = cls(open_engine(settings), settings)
        store._owns_engine = True
        return store

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

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
    def _tx(self) -> Iterator[Session]:
        with translate_unavailable(), Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """Reads run in autocommit: one round trip per statement, no BEGIN/COMMIT."""
        with translate_unavailable(), self._reader.connect() as conn, Session(bind=conn) as session:
            yield session

    def _lock_scope(self, s: Session, scope_id: int) -> Scope:
        row = s.execute(select(Scope).where(Scope.id == scope_id).with_for_update()).scalar_one_or_none()
        if row is None:
            raise UnknownScope("This memory no longer exists.")
        return row

    def _find(self, s: Session, scope_id: int, name: str) -> Concept:
        key = v.name_key(name) if isinstance(name, str) else ""
        row = s.execute(
            select(Concept).where(Concept.scope_id == scope_id, Concept.normalised_name == key)
        ).scalar_one_or_none()
        if row is None:
            raise UnknownConcept(f'There is no "{v.shorten(str(name))}" in this memory.')
        return row

    def _info(self, s: Session, concept_id: int) -> ConceptInfo:
        row, count = s.execute(select(Concept, _view_count()).where(Concept.id == concept_id)).one()
        return _concept_info(row, count)

    def _infos(self, s: Session, query: Select[Any]) -> list[ConceptInfo]:
        return [_concept_info(row, count) for row, count in s.execute(query).all()]

    @staticmethod
    def _audit(
        s: Session, scope_id: int | None, actor: str | None, action: str, concept: Concept | None, **details: object
    ) -> None:
        """Record an action; one about a concept also records whose concept it is (subject), which
        erasure of that member relies on even after the concept is gone."""
        s.add(
            AuditEvent(
                scope_id=scope_id,
                actor=actor,
                action=action,
                concept_id=concept.id if concept is not None else None,
                subject=concept.created_by if concept is not None else None,
                details=details,
            )
        )

    @staticmethod
    def _taken(s: Session, scope_id: int, name: str, exclude: int | None = None) -> tuple[str, bool] | None:
        """The name already in the scope that `name` would clash with, and whether it is the same name
        (case-folded, NFKC) rather than one that only looks the same (TR39 skeleton); None if free."""
        key, skeleton = v.name_key(name), v.name_skeleton(name)
        query = select(Concept.name, Concept.normalised_name).where(
            Concept.scope_id == scope_id, or_(Concept.normalised_name == key, Concept.name_skeleton == skeleton)
        )
        if exclude is not None:
            query = query.where(Concept.id != exclude)
        rows = s.execute(query).all()
        for row in rows:
            if row.normalised_name == key:
                return row.name, True
        return (rows[0].name, False) if rows else None

    @staticmethod
    def _lookalike(name: str, existing: str, where: str = "this memory") -> DuplicateName:
        return DuplicateName(
            f'"{v.shorten(name)}" looks the same as <{existing}>, which is already in {where}: pick another name.'
        )

    def check_name_free(self, scope_id: int, name: str) -> None:
        """Raise InvalidName or DuplicateName now when `name` could not be added to this memory (the
        same name, or one that looks the same), so callers can refuse before expensive work; the
        writes themselves check again."""
        clean = v.clean_name(name)
        with self._read() as s:
            taken = self._taken(s, scope_id, clean)
        if taken is not None:
            existing, same = taken
            if same:
                raise DuplicateName(f'"{clean}" is already in this memory. Pick another name, or add a photo to it.')
            raise self._lookalike(clean, existing)

    @staticmethod
    def _may_write(scope: Scope, actor: Actor, owner: str | None = None, name: str = "") -> None:
        """Group rules: locked -> moderators only; someone else's concept -> moderators only.
        In a user scope the actor is the owner (the frontend guarantees it)."""
        v.check_actor(actor.user_id)
        if scope.kind == ScopeKind.USER.value or actor.moderator:
            return
        if scope.locked:
            raise PermissionDenied(_LOCKED)
        if owner is not None and owner != actor.user_id:
            raise PermissionDenied(f'Only the member who added "{name}" or a moderator can change it.')

    @staticmethod
    def _moderator_only(scope: Scope, actor: Actor, what: str) -> None:
        v.check_actor(actor.user_id)
        if scope.kind == ScopeKind.GROUP.value and not actor.moderator:
            raise PermissionDenied(f"Only moderators can {what} in a group.")

    def _check_dim(self, s: Session, scope_id: int, encoder: str, dim: int) -> None:
        existing = s.execute(
            select(View.dim).where(View.scope_id == scope_id, View.encoder == encoder).limit(1)
        ).scalar_one_or_none()
        if existing is not None and existing != dim:
            raise InvalidEmbedding(
                f"This embedding has {dim} numbers but this memory's {encoder} embeddings have {existing}."
            )

    def _check_concept_quota(self, s: Session, scope_id: int) -> None:
        count = s.execute(select(func.count(Concept.id)).where(Concept.scope_id == scope_id)).scalar_one()
        limit = self.settings.max_concepts_per_scope
        if count >= limit:
            raise QuotaExceeded(f"This memory is full ({limit} things). Forget something first.")

    @staticmethod
    def _new_view(
        concept: Concept,
        vec: npt.NDArray[np.float32],
        encoder: str,
        box: list[float] | None,
        image: bytes,
        request_id: str | None,
    ) -> View:
        return View(
            concept_id=concept.id,
            scope_id=concept.scope_id,
            encoder=encoder,
            dim=int(vec.shape[0]),
            embedding=vec,
            box=box,
            image=bytes(image),
            request_id=request_id,
        )

    # ---- scopes ----------------------------------------------------------------------------------

    def scope(self, platform: str, kind: ScopeKind | str, external_id: str) -> ScopeInfo:
        """Get or create the scope (race-safe: INSERT ... ON CONFLICT DO NOTHING, then read)."""
        try:
            kind_value = ScopeKind(kind).value
        except ValueError:
            raise InvalidSetting(f"A memory is of kind 'user' or 'group', not {kind!r}.") from None
        platform, external_id = str(platform).strip(), str(external_id).strip()
        if not (1 <= len(platform) <= 32 and 1 <= len(external_id) <= 128) or v.has_control(platform + external_id):
            raise InvalidSetting("A memory needs a platform (1..32 chars) and a chat or user id (1..128 chars).")
        with self._tx() as s:
            s.execute(
                pg_insert(Scope)
                .values(platform=platform, kind=kind_value, external_id=external_id)
                .on_conflict_do_nothing(index_elements=["platform", "kind", "external_id"])
            )
            row = s.execute(
                select(Scope).where(
                    Scope.platform == platform, Scope.kind == kind_value, Scope.external_id == external_id
                )
            ).scalar_one()
            return _scope_info(row)

    def get_scope(self, scope_id: int) -> ScopeInfo:
        with self._read() as s:
            row = s.get(Scope, scope_id)
            if row is None:
                raise UnknownScope("This memory no longer exists.")
            return _scope_info(row)

    def check_can_write(self, scope_id: int, actor: Actor) -> None:
        """Raise PermissionDenied now when `actor` may not add to this memory (a locked group), so
        callers can refuse before expensive work; the writes themselves check again."""
        with self._read() as s:
            row = s.get(Scope, scope_id)
            if row is None:
                raise UnknownScope("This memory no longer exists.")
            self._may_write(row, actor)

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
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            self._moderator_only(scope, actor, "change the memory's settings")
            changes: dict[str, object] = {}
            for field, value in (
                ("locked", locked),
                ("similarity_threshold", similarity_threshold),
                ("auto_caption", auto_caption),
            ):
                if value is not None:
                    setattr(scope, field, value)
                    changes[field] = value
            self._audit(s, scope_id, actor.user_id, "settings", None, **changes)
            s.flush()
            return _scope_info(scope)

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
        v.check_request_id(request_id)
        clean = v.clean_name(name)
        desc = v.clean_description(description, self.settings.max_description_chars)
        cat = v.clean_category(category)
        vec, encoder, box = v.check_view(view, self.settings.max_image_bytes)
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            if request_id is not None:
                done = s.execute(
                    select(Concept.id).where(Concept.scope_id == scope_id, Concept.request_id == request_id)
                ).scalar_one_or_none()
                if done is not None:
                    return self._info(s, done)
            self._may_write(scope, actor)
            taken = self._taken(s, scope_id, clean)
            if taken is not None:
                existing, same = taken
                if same:
                    raise DuplicateName(
                        f'"{clean}" is already in this memory. Pick another name, or add a photo to it.'
                    )
                raise self._lookalike(clean, existing)
            self._check_concept_quota(s, scope_id)
            self._check_dim(s, scope_id, encoder, int(vec.shape[0]))
            concept = Concept(
                scope_id=scope_id,
                name=clean,
                normalised_name=v.name_key(clean),
                name_skeleton=v.name_skeleton(clean),
                description=desc,
                category=cat,
                created_by=actor.user_id,
                request_id=request_id,
            )
            s.add(concept)
            s.flush()
            s.add(self._new_view(concept, vec, encoder, box, view.image_jpeg, None))
            self._audit(s, scope_id, actor.user_id, "add", concept, name=clean, category=cat)
            s.flush()
            return self._info(s, concept.id)

    def add_view(
        self, scope_id: int, actor: Actor, name: str, view: NewView, request_id: str | None = None
    ) -> ConceptInfo:
        """Add another reference image to a concept, up to the per-concept limit."""
        v.check_request_id(request_id)
        vec, encoder, box = v.check_view(view, self.settings.max_image_bytes)
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            if request_id is not None:
                done = s.execute(
                    select(View.concept_id).where(View.scope_id == scope_id, View.request_id == request_id)
                ).scalar_one_or_none()
                if done is not None:
                    return self._info(s, done)
            concept = self._find(s, scope_id, name)
            self._may_write(scope, actor, concept.created_by, concept.name)
            views = s.execute(select(View.encoder, View.dim).where(View.concept_id == concept.id)).all()
            if views and views[0].encoder != encoder:
                raise InvalidEmbedding(
                    f'"{concept.name}" was embedded with {views[0].encoder}, not {encoder}; '
                    "all photos of one thing must use the same encoder."
                )
            self._check_dim(s, scope_id, encoder, int(vec.shape[0]))
            # The very same view again (a retried add whose reply was lost): say it is there.
            same = select(View.embedding).where(View.concept_id == concept.id, View.image == view.image_jpeg)
            if any(np.array_equal(np.asarray(stored, dtype=np.float32), vec) for stored in s.execute(same).scalars()):
                photos = f"{len(views)} photo" if len(views) == 1 else f"{len(views)} photos"
                raise DuplicatePhoto(f"<{concept.name}> already has this photo ({photos}): nothing added.")
            limit = self.settings.max_views_per_concept
            if len(views) >= limit:
                raise QuotaExceeded(f'"{concept.name}" already has {limit} photos, the most one thing can have.')
            s.add(self._new_view(concept, vec, encoder, box, view.image_jpeg, request_id))
            concept.updated_at = func.now()  # type: ignore[assignment]
            self._audit(s, scope_id, actor.user_id, "add_view", concept, name=concept.name)
            s.flush()
            return self._info(s, concept.id)

    def edit_description(self, scope_id: int, actor: Actor, name: str, description: str) -> ConceptInfo:
        desc = v.clean_description(description, self.settings.max_description_chars)
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            concept = self._find(s, scope_id, name)
            self._may_write(scope, actor, concept.created_by, concept.name)
            concept.description = desc
            concept.updated_at = func.now()  # type: ignore[assignment]
            self._audit(s, scope_id, actor.user_id, "edit", concept, name=concept.name)
            s.flush()
            return self._info(s, concept.id)

    def rename(self, scope_id: int, actor: Actor, old: str, new: str) -> ConceptInfo:
        clean = v.clean_name(new)
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            concept = self._find(s, scope_id, old)
            self._may_write(scope, actor, concept.created_by, concept.name)
            taken = self._taken(s, scope_id, clean, exclude=concept.id)
            if taken is not None:
                existing, same = taken
                if same:
                    raise DuplicateName(f'"{clean}" is already in this memory.')
                raise self._lookalike(clean, existing)
            previous = concept.name
            concept.name, concept.normalised_name = clean, v.name_key(clean)
            concept.name_skeleton = v.name_skeleton(clean)
            concept.updated_at = func.now()  # type: ignore[assignment]
            self._audit(s, scope_id, actor.user_id, "rename", concept, old=previous, new=clean)
            s.flush()
            return self._info(s, concept.id)

    def set_category(self, scope_id: int, actor: Actor, name: str, category: str) -> ConceptInfo:
        cat = v.clean_category(category)
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            concept = self._find(s, scope_id, name)
            self._may_write(scope, actor, concept.created_by, concept.name)
            previous = concept.category
            concept.category = cat
            concept.updated_at = func.now()  # type: ignore[assignment]
            self._audit(s, scope_id, actor.user_id, "recategorise", concept, name=concept.name, old=previous, new=cat)
            s.flush()
            return self._info(s, concept.id)

    def forget(self, scope_id: int, actor: Actor, name: str) -> None:
        """Hard delete: the concept, its views, their images and embeddings."""
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            concept = self._find(s, scope_id, name)
            self._may_write(scope, actor, concept.created_by, concept.name)
            s.execute(delete(Concept).where(Concept.id == concept.id))
            self._audit(s, scope_id, actor.user_id, "forget", concept, name=concept.name)

    def share(self, from_scope_id: int, to_scope_id: int, actor: Actor, name: str) -> ConceptInfo:
        """Copy a concept and its views into another (group) scope, created by `actor`."""
        if from_scope_id == to_scope_id:
            raise InvalidSetting("That thing is already in this memory.")
        with self._tx() as s:
            # Lock both scopes in id order so two opposite shares cannot deadlock.
            locked = {sid: self._lock_scope(s, sid) for sid in sorted((from_scope_id, to_scope_id))}
            source_scope, target = locked[from_scope_id], locked[to_scope_id]
            if target.kind != ScopeKind.GROUP.value:  # nobody writes into another person's private memory
                raise PermissionDenied("Things can only be shared into a group's memory.")
            source = self._find(s, from_scope_id, name)
            own_memory = source_scope.kind == ScopeKind.USER.value and source_scope.external_id == actor.user_id
            if not (own_memory or source.created_by == actor.user_id or actor.moderator):
                raise PermissionDenied(f'Only the member who added "{source.name}" can share it.')
            self._may_write(target, actor)
            taken = self._taken(s, to_scope_id, source.name)
            if taken is not None:
                existing, same = taken
                if same:
                    raise DuplicateName(f'"{source.name}" is already in that memory. Rename one of them first.')
                raise self._lookalike(source.name, existing, "that memory")
            self._check_concept_quota(s, to_scope_id)
            first = s.execute(select(View.encoder, View.dim).where(View.concept_id == source.id).limit(1)).first()
            if first is not None:
                self._check_dim(s, to_scope_id, first.encoder, first.dim)
            copy = Concept(
                scope_id=to_scope_id,
                name=source.name,
                normalised_name=source.normalised_name,
                name_skeleton=v.name_skeleton(source.name),
                description=source.description,
                category=source.category,
                created_by=actor.user_id,
                shared_from=source.id,
            )
            s.add(copy)
            s.flush()
            columns = (View.encoder, View.dim, View.embedding, View.box, View.image)
            s.execute(
                pg_insert(View).from_select(
                    ["concept_id", "scope_id", "encoder", "dim", "embedding", "box", "image"],
                    select(literal(copy.id), literal(to_scope_id), *columns)
                    .where(View.concept_id == source.id)
                    .order_by(View.id),
                )
            )
            self._audit(s, to_scope_id, actor.user_id, "share", copy, name=source.name)
            s.flush()
            return self._info(s, copy.id)

    # ---- reads -----------------------------------------------------------------------------------

    def list_concepts(self, scope_id: int, offset: int = 0, limit: int = 20) -> ConceptPage:
        """One page of the scope's concepts, sorted by name."""
        offset, limit = max(0, int(offset)), max(1, min(int(limit), MAX_PAGE))
        with self._read() as s:
            total = s.execute(select(func.count(Concept.id)).where(Concept.scope_id == scope_id)).scalar_one()
            items = self._infos(
                s,
                select(Concept, _view_count())
                .where(Concept.scope_id == scope_id)
                .order_by(Concept.normalised_name, Concept.id)
                .offset(offset)
                .limit(limit),
            )
            return ConceptPage(items=items, total=int(total), offset=offset, limit=limit)

    def get(self, scope_id: int, name: str) -> ConceptInfo:
        with self._read() as s:
            return self._info(s, self._find(s, scope_id, name).id)

    def get_by_names(self, scope_ids: Sequence[int], names: Sequence[str]) -> list[ConceptInfo]:
        """The concepts with these names (case-folded + NFKC) in these scopes, in the order of the
        scopes then of the names. Unknown names are skipped."""
        keys = list(dict.fromkeys(v.name_key(n) for n in names if isinstance(n, str) and n.strip()))
        if not keys or not scope_ids:
            return []
        with self._read() as s:
            found = self._infos(
                s,
                select(Concept, _view_count()).where(
                    Concept.scope_id.in_(list(scope_ids)), Concept.normalised_name.in_(keys)
                ),
            )
        scope_rank = {sid: i for i, sid in enumerate(scope_ids)}
        key_rank = {k: i for i, k in enumerate(keys)}
        return sorted(found, key=lambda c: (scope_rank[c.scope_id], key_rank[v.name_key(c.name)]))

    def all_names(self, scope_ids: Sequence[int]) -> list[ConceptInfo]:
        """Every concept in these scopes, sorted by name (for matching names in a question)."""
        if not scope_ids:
            return []
        with self._read() as s:
            return self._infos(
                s,
                select(Concept, _view_count())
                .where(Concept.scope_id.in_(list(scope_ids)))
                .order_by(Concept.normalised_name, Concept.id),
            )

    def views(self, concept_id: int) -> list[ViewInfo]:
        with self._read() as s:
            rows = s.execute(select(View).where(View.concept_id == concept_id).order_by(View.id)).scalars()
            return [_view_info(row) for row in rows]

    def categories(self, scope_ids: Sequence[int]) -> list[str]:
        if not scope_ids:
            return []
        with self._read() as s:
            query = select(Concept.category).where(Concept.scope_id.in_(list(scope_ids))).distinct()
            return sorted(s.execute(query).scalars())

    def encoders(self, scope_ids: Sequence[int]) -> list[str]:
        if not scope_ids:
            return []
        with self._read() as s:
            query = select(View.encoder).where(View.scope_id.in_(list(scope_ids))).distinct()
            return sorted(s.execute(query).scalars())

    def search(
        self,
        scope_ids: Sequence[int],
        queries: npt.ArrayLike,
        encoder: str,
        k: int = 2,
        min_similarity: float | None = None,
    ) -> list[SearchHit]:
        """For each query row its top-k views by cosine in these scopes (exact), pooled per concept
        (best similarity over views and queries), best first; hits under min_similarity dropped
        (None keeps all)."""
        matrix = v.unit_vectors(queries, single=False)
        encoder = v.check_encoder(encoder)
        if k < 1:
            raise InvalidSetting("k must be at least 1.")
        if not scope_ids or matrix.shape[0] == 0:
            return []
        dim = int(matrix.shape[1])
        scopes = [int(sid) for sid in scope_ids]
        with self._read() as s:
            params = {"queries": list(matrix), "scopes": scopes, "encoder": encoder, "dim": dim, "k": int(k)}
            with _vector_cursor(s) as cursor:
                rows = cursor.execute(_SEARCH_SQL, params).fetchall()
            if not rows:  # nothing stored for this encoder, or the query has the wrong dimension?
                stored = s.execute(
                    select(View.dim).where(View.scope_id.in_(scopes), View.encoder == encoder).limit(1)
                ).scalar_one_or_none()
                if stored is not None and stored != dim:
                    raise InvalidEmbedding(
                        f"The query has {dim} numbers but this memory's {encoder} embeddings have {stored}."
                    )
        best: dict[int, SearchHit] = {}
        for row in rows:
            sim = float(row.similarity)
            if row.id not in best or sim > best[row.id].similarity:
                concept = ConceptInfo(
                    id=row.id,
                    scope_id=row.scope_id,
                    name=row.name,
                    description=row.description,
                    category=row.category,
                    created_by=row.created_by,
                    created_at=row.created_at,
                    updated_at=row.updated_at,
                    view_count=int(row.view_count),
                    shared_from=row.shared_from,
                )
                best[row.id] = SearchHit(
                    concept=concept, similarity=sim, query_index=row.query_index, view_id=row.view_id
                )
        hits = [h for h in best.values() if min_similarity is None or h.similarity >= min_similarity]
        return sorted(hits, key=lambda h: (-h.similarity, h.concept.name))

    def audit(self, scope_id: int, limit: int = 20) -> list[AuditEntry]:
        """The scope's latest audit entries, newest first."""
        limit = max(1, min(int(limit), 1000))
        with self._read() as s:
            rows = s.execute(
                select(AuditEvent).where(AuditEvent.scope_id == scope_id).order_by(AuditEvent.id.desc()).limit(limit)
            ).scalars()
            return [
                AuditEntry(
                    id=r.id,
                    scope_id=r.scope_id,
                    actor=r.actor,
                    action=r.action,
                    concept_id=r.concept_id,
                    details=dict(r.details),
                    at=r.at,
                )
                for r in rows
            ]

    # ---- members and their data ------------------------------------------------------------------

    def purge_member(self, scope_id: int, actor: Actor, member_id: str) -> int:
        """Delete everything one member added to a group (moderators only). Returns concepts deleted."""
        with self._tx() as s:
            scope = self._lock_scope(s, scope_id)
            if scope.kind != ScopeKind.GROUP.value:
                raise PermissionDenied("Members can only be purged from a group's memory.")
            self._moderator_only(scope, actor, "remove a member's things")
            ids = list(
                s.execute(
                    delete(Concept)
                    .where(Concept.scope_id == scope_id, Concept.created_by == str(member_id))
                    .returning(Concept.id)
                ).scalars()
            )
            self._audit(s, scope_id, actor.user_id, "purge", None, member=str(member_id), concepts=len(ids))
            return len(ids)

    @staticmethod
    def _group_scopes(platform: str) -> Select[Any]:
        return select(Scope.id).where(Scope.platform == platform, Scope.kind == ScopeKind.GROUP.value)

    def _user_rows(self, s: Session, platform: str, user_id: str) -> tuple[list[int], list[int]]:
        """(the user's own scope ids on the platform, ids of the concepts they created in its groups)."""
        own = list(
            s.execute(
                select(Scope.id).where(
                    Scope.platform == platform, Scope.kind == ScopeKind.USER.value, Scope.external_id == user_id
                )
            ).scalars()
        )
        contributed = list(
            s.execute(
                select(Concept.id).where(
                    Concept.scope_id.in_(self._group_scopes(platform)), Concept.created_by == user_id
                )
            ).scalars()
        )
        return own, contributed

    def export_user(self, platform: str, user_id: str) -> bytes:
        """A zip of the user's data on a platform: concepts.json plus images/<view id>.<jpg|png>, for their
        own memory and for what they created in groups."""
        v.check_actor(user_id)
        with self._read() as s:
            own, contributed = self._user_rows(s, platform, user_id)
            query = (
                select(Concept, Scope)
                .join(Scope, Scope.id == Concept.scope_id)
                .where((Concept.scope_id.in_(own)) | (Concept.id.in_(contributed)))
                .order_by(Scope.id, Concept.normalised_name)
            )
            rows = s.execute(query).all()
            views = s.execute(
                select(View).where(View.concept_id.in_([c.id for c, _ in rows])).order_by(View.id)
            ).scalars()
            by_concept: dict[int, list[View]] = {}
            for view in views:
                by_concept.setdefault(view.concept_id, []).append(view)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                concepts = []
                for concept, scope in rows:
                    entries = []
                    for view in by_concept.get(concept.id, []):
                        image = bytes(view.image)
                        path = f"images/{view.id}.{v.image_kind(image)}"
                        archive.writestr(path, image)
                        entries.append(
                            {
                                "id": view.id,
                                "image": path,
                                "encoder": view.encoder,
                                "box": view.box,
                                "created_at": view.created_at.isoformat(),
                            }
                        )
                    concepts.append(
                        {
                            "id": concept.id,
                            "memory": {"kind": scope.kind, "chat_id": scope.external_id},
                            "name": concept.name,
                            "description": concept.description,
                            "category": concept.category,
                            "created_by": concept.created_by,
                            "created_at": concept.created_at.isoformat(),
                            "updated_at": concept.updated_at.isoformat(),
                            "views": entries,
                        }
                    )
                manifest = {
                    "platform": platform,
                    "user_id": user_id,
                    "exported_at": datetime.now(UTC).isoformat(),
                    "concepts": concepts,
                }
                archive.writestr("concepts.json", json.dumps(manifest, ensure_ascii=False, indent=2))
            return buffer.getvalue()

    def erase_user(self, platform: str, user_id: str, actor: Actor) -> ErasureReport:
        """Erase a user on a platform: their own scope(s) and everything they created in groups there.
        Audit rows about the erased data keep no names or details and no actor."""
        v.check_actor(user_id)
        with self._tx() as s:
            own, contributed = self._user_rows(s, platform, user_id)
            touched = list(s.execute(select(Concept.scope_id).where(Concept.id.in_(contributed)).distinct()).scalars())
            for sid in sorted(set(own) | set(touched)):  # id order: no deadlock with other writers
                self._lock_scope(s, sid)
            concepts_in_own = s.execute(select(func.count(Concept.id)).where(Concept.scope_id.in_(own))).scalar_one()
            views_deleted = s.execute(
                select(func.count(View.id)).where((View.scope_id.in_(own)) | (View.concept_id.in_(contributed)))
            ).scalar_one()
            s.execute(delete(Concept).where(Concept.id.in_(contributed)))
            s.execute(delete(Scope).where(Scope.id.in_(own)))  # cascades concepts, views, audit rows
            # Records by the user, about their concepts (subject: also those a moderator already deleted,
            # by forget or purge, so `contributed` no longer lists them), or naming them as a purged member.
            about_user = (
                (AuditEvent.actor == user_id)
                | (AuditEvent.subject == user_id)
                | AuditEvent.concept_id.in_(contributed)
                | (AuditEvent.details["member"].astext == user_id)
            )
            s.execute(
                update(AuditEvent)
                .where(AuditEvent.scope_id.in_(self._group_scopes(platform)), about_user)
                .values(
                    details=text("'{}'::jsonb"),
                    actor=func.nullif(AuditEvent.actor, user_id),
                    subject=func.nullif(AuditEvent.subject, user_id),
                )
                .execution_options(synchronize_session=False)
            )
            recorder = None if actor.user_id == user_id else actor.user_id
            for sid in touched:
                self._audit(s, sid, recorder, "erase_member", None)
            return ErasureReport(
                scopes_deleted=len(own),
                concepts_deleted=int(concepts_in_own) + len(contributed),
                views_deleted=int(views_deleted),
            )
