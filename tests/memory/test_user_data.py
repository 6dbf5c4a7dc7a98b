"""Sharing, export and erasure of one user's data."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from memory_testkit import ENCODER, MODERATOR, OWNER, jpeg, make_view, png, unit
from sqlalchemy import text

from memory.errors import DuplicateName, InvalidSetting, PermissionDenied, QuotaExceeded, UnknownConcept
from memory.types import Actor

BOB = Actor("bob")


def test_share_copies_into_group_and_audits(store, user_scope, group_scope, alice, add) -> None:
    original = add(user_scope, alice, "Bo", description="my shiba")
    copy = store.share(user_scope.id, group_scope.id, alice, "bo")
    assert (copy.scope_id, copy.name, copy.description, copy.created_by) == (group_scope.id, "Bo", "my shiba", "alice")
    assert copy.shared_from == original.id and copy.id != original.id
    entry = store.audit(group_scope.id, MODERATOR)[0]
    assert (entry.action, entry.actor, entry.concept_id) == ("share", "alice", copy.id)


def test_share_refuses_duplicates_unknowns_same_scope_and_full_groups(
    store, user_scope, group_scope, alice, add
) -> None:
    add(user_scope, alice, "bo")
    add(group_scope, BOB, "BO", seed=2)
    with pytest.raises(DuplicateName, match="already in that memory"):
        store.share(user_scope.id, group_scope.id, alice, "bo")
    with pytest.raises(UnknownConcept, match='"ghost"'):
        store.share(user_scope.id, group_scope.id, alice, "ghost")
    with pytest.raises(InvalidSetting):
        store.share(user_scope.id, user_scope.id, alice, "bo")
    add(user_scope, alice, "rex", seed=3)
    for i in range(store.settings.max_concepts_per_scope - 1):
        add(group_scope, BOB, f"g{i}", seed=10 + i)
    with pytest.raises(QuotaExceeded):
        store.share(user_scope.id, group_scope.id, alice, "rex")
    assert store.get_by_names([group_scope.id], ["rex"]) == []


def test_share_only_into_groups(store, user_scope, alice, add) -> None:
    bobs = store.scope("telegram", "user", "bob")
    add(user_scope, alice, "bo")
    with pytest.raises(PermissionDenied, match="group"):
        store.share(user_scope.id, bobs.id, alice, "bo")
    assert store.list_concepts(bobs.id, BOB).total == 0


def _export(store, platform: str, user: str) -> tuple[dict, zipfile.ZipFile]:
    archive = zipfile.ZipFile(io.BytesIO(store.export_user(platform, Actor(user))))
    return json.loads(archive.read("concepts.json")), archive


def test_export_has_own_memory_and_group_contributions_only(store, user_scope, group_scope, alice, add) -> None:
    add(user_scope, alice, "bo", description="loves chicken")
    store.add_view(user_scope.id, alice, "bo", make_view(2, image=png()))
    add(group_scope, alice, "office plant", seed=3)
    add(group_scope, BOB, "bobs mug", seed=4)
    add(store.scope("discord", "user", "alice"), alice, "discord thing", seed=5)
    manifest, archive = _export(store, "telegram", "alice")
    names = {c["name"]: c for c in manifest["concepts"]}
    assert set(names) == {"bo", "office plant"}
    assert names["bo"]["description"] == "loves chicken" and names["bo"]["memory"]["kind"] == "user"
    assert names["office plant"]["memory"] == {"kind": "group", "chat_id": "-100"}
    first, second = names["bo"]["views"]
    assert archive.read(first["image"]) == jpeg() and first["image"].endswith(".jpg")
    assert archive.read(second["image"]) == png() and second["image"].endswith(".png")
    assert len([n for n in archive.namelist() if n.startswith("images/")]) == 3


def test_export_of_unknown_user_is_empty(store) -> None:
    manifest, archive = _export(store, "telegram", "nobody")
    assert manifest["concepts"] == [] and archive.namelist() == ["concepts.json"]


def test_erase_removes_everything_of_the_user_on_that_platform(store, user_scope, group_scope, alice, mod, add) -> None:
    bo = add(user_scope, alice, "bo", seed=1)
    store.add_view(user_scope.id, alice, "bo", make_view(2))
    shared = store.share(user_scope.id, group_scope.id, alice, "bo")
    plant = add(group_scope, alice, "plant", seed=3)
    store.rename(group_scope.id, mod, "plant", "big plant")  # a moderator's action about alice's data
    mug = add(group_scope, BOB, "mug", seed=4)
    discord_scope = store.scope("discord", "user", "alice")
    add(discord_scope, alice, "elsewhere", seed=5)

    report = store.erase_user("telegram", Actor("alice"))
    assert (report.scopes_deleted, report.concepts_deleted, report.views_deleted) == (1, 3, 5)
    for concept_id in (bo.id, shared.id, plant.id):
        assert store.views(concept_id) == []
    assert [c.name for c in store.list_concepts(group_scope.id, MODERATOR).items] == ["mug"]
    assert store.search([group_scope.id], unit(1), ENCODER, k=5)[0].concept.id == mug.id
    assert store.search([user_scope.id], unit(1), ENCODER) == []
    assert store.list_concepts(discord_scope.id, OWNER).total == 1  # other platforms untouched
    manifest, _ = _export(store, "telegram", "alice")
    assert manifest["concepts"] == []
    # the audit keeps that things happened, not what or by whom
    entries = store.audit(group_scope.id, MODERATOR, limit=50)
    values = {str(value) for e in entries for value in e.details.values()}
    assert values.isdisjoint({"alice", "bo", "plant", "big plant"})
    assert "alice" not in {e.actor for e in entries}
    assert any(e.actor == "mod" and e.action == "rename" and e.details == {} for e in entries)
    assert any(e.actor == "bob" and e.details == {"name": "mug", "category": "dog"} for e in entries)
    assert entries[0].action == "erase_member" and entries[0].actor is None
    # the user can come back and start over
    fresh = store.scope("telegram", "user", "alice")
    assert fresh.id != user_scope.id and store.list_concepts(fresh.id, OWNER).total == 0


def test_erase_scrubs_purge_records_naming_the_user(store, group_scope, alice, mod, add) -> None:
    add(group_scope, alice, "plant")
    store.purge_member(group_scope.id, mod, "alice")
    store.erase_user("telegram", Actor("alice"))
    assert "alice" not in json.dumps([e.details for e in store.audit(group_scope.id, MODERATOR)])


def test_erase_of_unknown_user_changes_nothing(store, group_scope, alice, add) -> None:
    add(group_scope, alice, "plant")
    report = store.erase_user("telegram", Actor("nobody"))
    assert (report.scopes_deleted, report.concepts_deleted, report.views_deleted) == (0, 0, 0)
    assert store.list_concepts(group_scope.id, MODERATOR).total == 1


def _audit_text(store, scope_id: int) -> str:
    """Everything the audit keeps for a scope, as text: actors, actions and details of every entry."""
    return json.dumps(
        [[e.actor, e.action, e.details] for e in store.audit(scope_id, MODERATOR, limit=1000)], ensure_ascii=False
    )


def test_erase_scrubs_names_a_moderator_edited_before_purging_the_user(store, group_scope, alice, mod, add) -> None:
    """Issue 12.4: the moderator renames and edits alice's concept, purges alice, then alice runs
    /forgetme. The concept was already gone when she was erased; its names must go all the same."""
    add(group_scope, alice, "plant", description="the fern by the window")
    add(group_scope, alice, "cactus", seed=1)
    add(group_scope, BOB, "mug", seed=2)
    store.rename(group_scope.id, mod, "plant", "big plant")
    store.edit_description(group_scope.id, mod, "big plant", "watered on mondays")
    store.set_category(group_scope.id, mod, "big plant", "green things")
    store.add_view(group_scope.id, mod, "big plant", make_view(3))
    assert "big plant" in _audit_text(store, group_scope.id)  # the moderator's records name it
    assert store.purge_member(group_scope.id, mod, "alice") == 2

    store.erase_user("telegram", Actor("alice"))

    kept = _audit_text(store, group_scope.id)
    for trace in ("alice", "plant", "big plant", "cactus", "green things"):
        assert trace not in kept
    entries = store.audit(group_scope.id, MODERATOR, limit=1000)
    assert [e.action for e in entries if e.actor == "mod"] == ["purge", "add_view", "recategorise", "edit", "rename"]
    assert all(e.details == {} for e in entries if e.actor == "mod")
    assert any(e.actor == "bob" and e.details == {"name": "mug", "category": "dog"} for e in entries)


def test_erase_scrubs_names_of_a_concept_a_moderator_forgot(store, group_scope, alice, mod, add) -> None:
    add(group_scope, alice, "plant")
    store.rename(group_scope.id, mod, "plant", "big plant")
    store.forget(group_scope.id, mod, "big plant")
    store.erase_user("telegram", Actor("alice"))
    kept = _audit_text(store, group_scope.id)
    assert "plant" not in kept and "alice" not in kept


def test_erase_leaves_no_subject_behind(store, group_scope, alice, mod, add) -> None:
    add(group_scope, alice, "plant")
    store.rename(group_scope.id, mod, "plant", "big plant")
    store.purge_member(group_scope.id, mod, "alice")
    store.erase_user("telegram", Actor("alice"))
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, subject, details::text FROM audit_events")).all()
    assert rows and all("alice" not in str(tuple(row)) and "plant" not in str(tuple(row)) for row in rows)
