"""The photo index under the memory's rules (memory/photo_index.py): off by default, switched by
moderators (or the owner), read by members only, forgetting and expiry follow, audited."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from memory_testkit import ENCODER, jpeg, make_view, unit
from sqlalchemy import text
from sqlalchemy.engine import Engine

from memory.errors import PermissionDenied
from memory.index_types import IndexedVector, NewIndexedPhoto, Recognition
from memory.photo_index import PhotoIndex
from memory.store import MemoryStore
from memory.types import Actor, ScopeInfo, ScopeKind

EARLY = datetime(2020, 1, 1, tzinfo=UTC)


def photo(
    seed: int, location: str, recognitions: list[Recognition] | None = None, request_id: str | None = None
) -> NewIndexedPhoto:
    return NewIndexedPhoto(
        location=location,
        width=64,
        height=48,
        vectors=[
            IndexedVector("whole", ENCODER, unit(seed)),
            IndexedVector("crop", ENCODER, unit(seed + 1), (1, 2, 3, 4)),
        ],
        recognitions=recognitions or [],
        thumbnail_jpeg=jpeg(),
        request_id=request_id,
    )


def test_off_by_default_moderators_switch_members_read(store: MemoryStore, group_scope: ScopeInfo) -> None:
    index = PhotoIndex(store)
    member, mod = Actor("bob"), Actor("mod", moderator=True)
    assert not index.status(group_scope.id, member).settings.enabled
    assert index.add(group_scope.id, member, photo(1, "https://t.me/c/1/1")) is None, "off: nothing kept"
    with pytest.raises(PermissionDenied, match="Only moderators"):
        index.switch(group_scope.id, member, enabled=True)
    status = index.switch(group_scope.id, mod, enabled=True)
    assert status.settings.enabled and status.settings.since is not None and status.settings.retention_days == 180

    bo = store.add_concept(group_scope.id, member, "bo", "a dog", "dog", make_view(1))
    first = index.add(group_scope.id, member, photo(1, "https://t.me/c/1/2", [Recognition(bo.id, 0.9)], "r1"))
    assert first is not None
    assert index.add(group_scope.id, member, photo(1, "https://t.me/c/1/2", [Recognition(bo.id, 0.9)], "r1")) == first
    index.add(group_scope.id, Actor("carol"), photo(5, "https://t.me/c/1/3"))
    assert index.status(group_scope.id, member).photos == 2
    # A photo posted before the index was turned on (a late delivery) is never indexed.
    early = NewIndexedPhoto("https://t.me/c/1/0", 8, 8, [IndexedVector("whole", ENCODER, unit(9))], posted_at=EARLY)
    assert index.add(group_scope.id, member, early) is None
    assert index.status(group_scope.id, member).photos == 2

    concept, total, found = index.with_concept(group_scope.id, member, "bo")
    assert concept.name == "bo" and total == 1 and [p.location for p in found] == ["https://t.me/c/1/2"]
    assert found[0].thumbnail_jpeg is None, "thumbnails only when the memory keeps them"
    ranked = index.by_text(group_scope.id, member, unit(5), ENCODER)
    assert ranked[0].location == "https://t.me/c/1/3" and ranked[0].score == pytest.approx(1.0, abs=1e-5)
    only_bo = index.by_text(group_scope.id, member, unit(5), ENCODER, concept="bo")
    assert [p.location for p in only_bo] == ["https://t.me/c/1/2"]

    # Another chat's members, and a user's private memory, see nothing of it.
    other = store.scope("telegram", ScopeKind.GROUP, "-999")
    assert index.by_text(other.id, member, unit(5), ENCODER) == []
    private = store.scope("telegram", ScopeKind.USER, "alice")
    with pytest.raises(PermissionDenied):
        index.by_text(private.id, member, unit(5), ENCODER)

    # Forgetting bo drops its recognitions; the photo stays.
    store.forget(group_scope.id, member, "bo")
    assert index.status(group_scope.id, member).photos == 2
    assert index.by_text(group_scope.id, member, unit(1), ENCODER)[0].concepts == []

    # Off keeps the photos until deleted; off means nothing more is added.
    index.switch(group_scope.id, mod, enabled=False)
    assert index.add(group_scope.id, member, photo(7, "https://t.me/c/1/9")) is None
    with pytest.raises(PermissionDenied):
        index.delete_all(group_scope.id, member)
    assert index.delete_all(group_scope.id, mod) == 2
    actions = [entry.action for entry in store.audit(group_scope.id, mod, 50)]
    assert {"index_on", "index_off", "index_delete"} <= set(actions)


def test_owner_switches_own_memory_and_retention_expires(
    store: MemoryStore, user_scope: ScopeInfo, memory_engine: Engine
) -> None:
    index = PhotoIndex(store)
    alice = Actor("alice")
    with pytest.raises(PermissionDenied):
        index.switch(user_scope.id, Actor("mallory", moderator=True), enabled=True)
    index.switch(user_scope.id, alice, enabled=True, retention_days=30, keep_thumbnails=True)
    kept = index.add(user_scope.id, alice, photo(1, "/photos/a.jpg"))
    old = index.add(user_scope.id, alice, photo(2, "/photos/b.jpg"))
    with memory_engine.begin() as conn:
        conn.execute(
            text("UPDATE indexed_photos SET posted_at = now() - interval '31 days' WHERE id = :id"), {"id": old}
        )
    status = index.status(user_scope.id, alice)
    assert status.photos == 1
    found = index.by_text(user_scope.id, alice, unit(1), ENCODER)
    assert [p.id for p in found] == [kept] and found[0].thumbnail_jpeg is not None
    assert "index_expire" in [entry.action for entry in store.audit(user_scope.id, alice, 10)]


def test_export_and_erasure_include_the_index(store: MemoryStore, group_scope: ScopeInfo) -> None:
    index = PhotoIndex(store)
    bob, mod = Actor("bob"), Actor("mod", moderator=True)
    index.switch(group_scope.id, mod, enabled=True)
    index.add(group_scope.id, bob, photo(1, "https://t.me/c/1/2"))
    index.add(group_scope.id, mod, photo(3, "https://t.me/c/1/3"))
    archive = index.export_into(store.export_user("telegram", bob), "telegram", bob)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        entries = json.loads(opened.read("photo_index.json"))["photos"]
        assert "concepts.json" in opened.namelist()
    assert [e["location"] for e in entries] == ["https://t.me/c/1/2"]
    assert index.erase_member("telegram", bob) == 1
    assert index.status(group_scope.id, mod).photos == 1
    assert index.purge_member(group_scope.id, mod, "mod") == 1
