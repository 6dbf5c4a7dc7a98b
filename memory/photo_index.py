"""The opt-in photo index of a memory (docs/index.md): the rules over
memory/repositories/photo_index.py, under memory/policy.py like every other read and write.

- Off by default. In a group only moderators switch it (and delete it); in a user's memory, the owner.
- While on, a photo posted by a member of the memory is indexed (its CLIP embeddings, faces, the
  concepts recognised, where to find it); nothing posted while it was off ever is.
- Reading it (/find, the gallery) is reading the memory: a group's members, a user's own memory's owner.
- Forgetting: forgetting a concept drops its recognitions (ON DELETE CASCADE; the photos stay);
  erasing a member (/forgetme) deletes the photos they posted (MemoryStore.erase_user); deleting the
  index deletes every photo; photos older than the memory's retention (default 180 days) expire.
  Switching, deleting and expiring are audited; indexing one photo is not (the log would be the index).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from memory import policy
from memory import validation as v
from memory.errors import InvalidSetting
from memory.export import add_photo_index
from memory.index_types import MAX_RETENTION_DAYS, FoundPhoto, IndexSettings, IndexStatus, NewIndexedPhoto
from memory.models import PhotoIndexSettings
from memory.repositories import audit as audit_log
from memory.repositories import concepts, scopes
from memory.repositories import photo_index as rows
from memory.repositories.lookalikes import closest_others
from memory.types import Actor, ConceptInfo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from memory.store import MemoryStore

MAX_FOUND = 50
MAX_LOCATION_CHARS = 2000
MAX_THUMBNAIL_BYTES = 64_000


class PhotoIndex:
    """A memory's photo index, on the store's engine and transactions."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    # ---- the switch ------------------------------------------------------------------------
    def status(self, scope_id: int, actor: Actor) -> IndexStatus:
        """Anyone who may read the memory may see whether it is indexed."""
        with self.store._tx() as s:
            scope = scopes.lock(s, scope_id)
            policy.may_read(scope, actor)
            self._expire(s, scope_id, actor)
            return IndexStatus(rows.settings(s, scope_id), rows.count(s, scope_id))

    def switch(
        self,
        scope_id: int,
        actor: Actor,
        *,
        enabled: bool | None = None,
        retention_days: int | None = None,
        keep_thumbnails: bool | None = None,
    ) -> IndexStatus:
        """Change the given settings (moderators in a group, the owner in their memory)."""
        if retention_days is not None and not (
            isinstance(retention_days, int) and 1 <= retention_days <= MAX_RETENTION_DAYS
        ):
            raise InvalidSetting(f"Keep indexed photos from 1 to {MAX_RETENTION_DAYS} days.")
        changes = {
            field: value
            for field, value in (
                ("enabled", enabled),
                ("retention_days", retention_days),
                ("keep_thumbnails", keep_thumbnails),
            )
            if value is not None
        }
        with self.store._tx() as s:
            scope = scopes.lock(s, scope_id)
            policy.may_moderate(scope, actor, policy.ModeratorAction.PHOTO_INDEX)
            before = rows.settings(s, scope_id)
            if enabled is True and before.enabled:
                changes.pop("enabled")  # already on: keep `since`
            updated = rows.update_settings(s, scope_id, changes) if changes else before
            action = ("index_on" if enabled else "index_off") if "enabled" in changes else None
            audit_log.record(s, scope_id, actor.user_id, action or "index_settings", None, **changes)
            return IndexStatus(updated, rows.count(s, scope_id))

    def delete_all(self, scope_id: int, actor: Actor) -> int:
        """Delete every indexed photo of the memory (the switch stays as it is). Returns how many."""
        with self.store._tx() as s:
            scope = scopes.lock(s, scope_id)
            policy.may_moderate(scope, actor, policy.ModeratorAction.PHOTO_INDEX)
            deleted = rows.delete_all(s, scope_id)
            audit_log.record(s, scope_id, actor.user_id, "index_delete", None, photos=deleted)
            return deleted

    def accepts(self, scope_id: int) -> IndexSettings:
        """The memory's index settings (pipeline-internal: whether to detect and embed at all)."""
        with self.store._read() as s:
            return rows.settings(s, scope_id)

    # ---- writes ------------------------------------------------------------------------------
    def add(self, scope_id: int, actor: Actor, photo: NewIndexedPhoto) -> int | None:
        """Index one photo the actor posted; None when the index is off (nothing is kept). A
        repeated request id returns the photo it indexed."""
        policy.valid_actor(actor)
        v.check_request_id(photo.request_id)
        location = " ".join(str(photo.location).split())
        if not location or len(location) > MAX_LOCATION_CHARS or v.has_control(location):
            raise InvalidSetting("An indexed photo needs where to find it (a link or a path).")
        vectors = [
            type(vector)(
                vector.kind, v.check_encoder(vector.encoder), v.unit_vectors(vector.embedding, single=True), vector.box
            )
            for vector in photo.vectors
        ]
        with self.store._tx() as s:
            scope = scopes.lock(s, scope_id)
            policy.may_read(scope, actor)  # a member of the group, or the owner of the memory
            settings = rows.settings(s, scope_id)
            if not settings.enabled:
                return None
            # Posted before the index was turned on (a late delivery): never indexed. Chat platforms
            # date messages to the second, so the second it was turned on counts as on.
            since = settings.since.replace(microsecond=0) if settings.since is not None else None
            if photo.posted_at is not None and since is not None and photo.posted_at < since:
                return None
            if photo.request_id is not None:
                done = rows.for_request(s, scope_id, photo.request_id)
                if done is not None:
                    return done
            self._expire(s, scope_id, actor, settings.retention_days)
            thumbnail = photo.thumbnail_jpeg if settings.keep_thumbnails else None
            if thumbnail is not None and len(thumbnail) > MAX_THUMBNAIL_BYTES:
                thumbnail = None
            return rows.insert(
                s,
                scope_id,
                actor.user_id,
                location,
                (int(photo.width), int(photo.height)),
                thumbnail,
                photo.request_id,
                vectors,
                photo.recognitions,
                photo.posted_at,
            )

    def _expire(self, s: Session, scope_id: int, actor: Actor, days: int | None = None) -> None:
        days = rows.settings(s, scope_id).retention_days if days is None else days
        expired = rows.expire(s, scope_id, days)
        if expired:
            audit_log.record(s, scope_id, None, "index_expire", None, photos=expired, days=days)

    def expire_all(self) -> int:
        """Expire every memory's old photos (`rapbot`'s periodic job; reads and writes also expire
        their own memory's). Returns how many were deleted."""

        total = 0
        with self.store._read() as s:
            scope_ids = list(s.execute(select(PhotoIndexSettings.scope_id)).scalars())
        for scope_id in scope_ids:
            with self.store._tx() as s:
                scopes.lock(s, scope_id)
                before = rows.count(s, scope_id)
                self._expire(s, scope_id, Actor("system"))
                total += before - rows.count(s, scope_id)
        return total

    # ---- reads -----------------------------------------------------------------------------
    def with_concept(
        self, scope_id: int, actor: Actor, name: str, limit: int = 10
    ) -> tuple[ConceptInfo, int, list[FoundPhoto]]:
        """The concept, how many indexed photos it was recognised in, and the newest of them."""
        limit = max(1, min(int(limit), MAX_FOUND))
        with self.store._read() as s:
            policy.may_read(scopes.get(s, scope_id), actor)
            concept = concepts.find(s, scope_id, name)
            ids = rows.with_concept(s, scope_id, concept.id, limit)
            return concept, rows.count_with_concept(s, scope_id, concept.id), rows.photos(s, ids)

    def by_text(
        self,
        scope_id: int,
        actor: Actor,
        query: npt.ArrayLike,
        encoder: str,
        limit: int = 10,
        concept: str | None = None,
    ) -> list[FoundPhoto]:
        """The photos whose whole photo or a crop is closest to a CLIP text embedding, best first;
        only those `concept` was recognised in when one is named. Exact, within this memory."""
        limit = max(1, min(int(limit), MAX_FOUND))
        vector = v.unit_vectors(query, single=True)
        encoder = v.check_encoder(encoder)
        with self.store._read() as s:
            policy.may_read(scopes.get(s, scope_id), actor)
            concept_id = concepts.find(s, scope_id, concept).id if concept is not None else None
            ranked = rows.rank_by_vector(s, scope_id, np.asarray(vector, dtype=np.float32), encoder, limit, concept_id)
            return rows.photos(s, [photo_id for photo_id, _ in ranked], dict(ranked))

    def user_photos(self, platform: str, actor: Actor) -> list[tuple[str, str, FoundPhoto]]:
        """Every photo the actor posted on the platform, for their export."""
        policy.valid_actor(actor)
        with self.store._read() as s:
            return rows.posted_by(s, platform, actor.user_id)

    # ---- members -----------------------------------------------------------------------------
    def export_into(self, archive: bytes, platform: str, actor: Actor) -> bytes:
        """A user's export (MemoryStore.export_user) with the photos they posted added."""

        return add_photo_index(archive, self.user_photos(platform, actor))

    def erase_member(self, platform: str, actor: Actor) -> int:
        """Delete every photo the actor posted on the platform (their /forgetme); audited in each
        memory without naming them. Returns how many."""
        policy.valid_actor(actor)
        with self.store._tx() as s:
            deleted = rows.delete_posted_by(s, platform, actor.user_id)
            for scope_id in sorted(set(deleted)):
                audit_log.record(s, scope_id, None, "index_erase_member", None, photos=deleted.count(scope_id))
            return len(deleted)

    def purge_member(self, scope_id: int, actor: Actor, member_id: str) -> int:
        """A moderator removes a member's photos from the group's index."""
        with self.store._tx() as s:
            policy.may_purge(scopes.lock(s, scope_id), actor)
            deleted = rows.delete_posted_in(s, scope_id, str(member_id))
            audit_log.record(s, scope_id, actor.user_id, "index_purge", None, member=str(member_id), photos=deleted)
            return deleted


def lookalikes(store: MemoryStore, concept_id: int, encoder: str, floor: float) -> list[tuple[str, float]]:
    """The other concepts of the concept's memory that one of its own views (of `encoder`) is at
    least `floor` similar to, closest first (pipeline-internal: a just-remembered concept)."""

    with store._read() as s:
        return closest_others(s, concept_id, encoder, floor)
