"""Group rules enforced by the store, the same for every frontend: locks, owners, moderators."""

from __future__ import annotations

import pytest
from memory_testkit import MODERATOR, OWNER, make_view

from memory.errors import PermissionDenied
from memory.store import MemoryStore
from memory.types import Actor

BOB = Actor("bob")


@pytest.fixture
def alices_thing(store, group_scope, alice, add):
    return add(group_scope, alice, "office plant")


def _member_writes(store: MemoryStore, scope_id: int, actor: Actor, name: str) -> list:
    return [
        lambda: store.add_view(scope_id, actor, name, make_view(7)),
        lambda: store.edit_description(scope_id, actor, name, "changed"),
        lambda: store.rename(scope_id, actor, name, "renamed"),
        lambda: store.set_category(scope_id, actor, name, "tree"),
        lambda: store.forget(scope_id, actor, name),
    ]


@pytest.mark.parametrize("op", range(5))
def test_members_cannot_change_someone_elses_concept(store, group_scope, alices_thing, op: int) -> None:
    with pytest.raises(PermissionDenied, match="member who added"):
        _member_writes(store, group_scope.id, BOB, "office plant")[op]()
    concept = store.get(group_scope.id, MODERATOR, "office plant")
    assert (concept.description, concept.category, concept.view_count) == ("a thing", "dog", 1)


@pytest.mark.parametrize("op", range(5))
def test_owner_and_moderator_may_change_it(store, group_scope, alice, mod, alices_thing, op: int) -> None:
    _member_writes(store, group_scope.id, alice, "office plant")[op]()
    store.update_settings(group_scope.id, mod, locked=False)  # no-op write by a moderator
    assert store.audit(group_scope.id, MODERATOR)[1].actor == "alice"


def test_moderator_may_forget_anyones_concept(store, group_scope, mod, alices_thing) -> None:
    store.forget(group_scope.id, mod, "office plant")
    assert store.list_concepts(group_scope.id, MODERATOR).total == 0
    assert store.audit(group_scope.id, MODERATOR)[0].actor == "mod"


@pytest.mark.parametrize("op", range(5))
def test_locked_group_refuses_even_the_owner(store, group_scope, alice, mod, alices_thing, op: int) -> None:
    store.update_settings(group_scope.id, mod, locked=True)
    with pytest.raises(PermissionDenied, match="locked"):
        _member_writes(store, group_scope.id, alice, "office plant")[op]()
    with pytest.raises(PermissionDenied, match="locked"):
        store.add_concept(group_scope.id, alice, "new", "", "dog", make_view(3))
    assert store.list_concepts(group_scope.id, MODERATOR).total == 1


def test_locked_group_lets_moderators_write(store, group_scope, mod, add) -> None:
    store.update_settings(group_scope.id, mod, locked=True)
    add(group_scope, mod, "rules board")
    store.rename(group_scope.id, mod, "rules board", "board")
    assert [c.name for c in store.list_concepts(group_scope.id, MODERATOR).items] == ["board"]


def test_share_into_locked_group_needs_moderator(store, user_scope, group_scope, alice, mod, add) -> None:
    add(user_scope, alice, "bo")
    store.update_settings(group_scope.id, mod, locked=True)
    with pytest.raises(PermissionDenied, match="locked"):
        store.share(user_scope.id, group_scope.id, alice, "bo")
    assert store.list_concepts(group_scope.id, MODERATOR).total == 0


def test_settings_and_purge_are_for_moderators(store, group_scope, alice, alices_thing) -> None:
    with pytest.raises(PermissionDenied, match="moderators"):
        store.update_settings(group_scope.id, alice, locked=True)
    with pytest.raises(PermissionDenied, match="moderators"):
        store.purge_member(group_scope.id, alice, "alice")
    assert not store.get_scope(group_scope.id).settings.locked
    assert store.list_concepts(group_scope.id, MODERATOR).total == 1


def test_purge_member(store, group_scope, alice, mod, add) -> None:
    add(group_scope, alice, "a")
    add(group_scope, alice, "b", seed=2)
    add(group_scope, BOB, "c", seed=3)
    assert store.purge_member(group_scope.id, mod, "alice") == 2
    assert [c.name for c in store.list_concepts(group_scope.id, MODERATOR).items] == ["c"]
    entry = store.audit(group_scope.id, MODERATOR)[0]
    assert (entry.action, entry.actor, entry.details) == ("purge", "mod", {"member": "alice", "concepts": 2})


def test_purge_is_only_for_groups(store, user_scope, mod) -> None:
    with pytest.raises(PermissionDenied, match="group"):
        store.purge_member(user_scope.id, mod, "alice")


def test_user_scope_owner_may_do_everything(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo")
    store.update_settings(user_scope.id, alice, locked=True)  # a lock means nothing in one's own memory
    store.rename(user_scope.id, alice, "bo", "bobo")
    store.forget(user_scope.id, alice, "bobo")
    assert store.list_concepts(user_scope.id, OWNER).total == 0


def test_only_the_creator_shares_from_a_group(store, group_scope, alice, alices_thing) -> None:
    other_group = store.scope("telegram", "group", "-200")
    with pytest.raises(PermissionDenied, match="share"):
        store.share(group_scope.id, other_group.id, BOB, "office plant")
    assert store.share(group_scope.id, other_group.id, alice, "office plant").created_by == "alice"
