"""What the store keeps for the gallery and the rules around it: a replayed request id is checked
against the policy as it is now; group memories a user may be asked about (seen in, added to, or
named by the platform); settings and permission reads create no scope; gallery sessions that end
(one, all, on erasure) and console link nonces that sign in once."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from memory_testkit import make_view

from memory.errors import AlreadyUsed, InvalidSetting, PermissionDenied
from memory.store import MemoryStore
from memory.types import Actor, ConceptInfo, ScopeInfo, ScopeKind


def fresh_hash() -> str:
    """A session id's hash no other test used (the session table outlives each test's reset)."""
    return secrets.token_hex(32)


def test_a_replayed_request_id_is_refused_once_the_group_is_locked(
    store: MemoryStore, group_scope: ScopeInfo, alice: Actor, mod: Actor
) -> None:
    store.add_concept(group_scope.id, alice, "bo", "", "dog", make_view(1), request_id="req-9")
    store.add_view(group_scope.id, alice, "bo", make_view(2), request_id="req-10")
    assert store.add_concept(group_scope.id, alice, "bo", "", "dog", make_view(1), request_id="req-9").name == "bo"
    store.update_settings(group_scope.id, mod, locked=True)
    with pytest.raises(PermissionDenied):
        store.add_concept(group_scope.id, alice, "bo", "", "dog", make_view(1), request_id="req-9")
    with pytest.raises(PermissionDenied):
        store.add_view(group_scope.id, alice, "bo", make_view(2), request_id="req-10")
    # Someone else replaying alice's request id is not handed her concept either.
    store.update_settings(group_scope.id, mod, locked=False)
    with pytest.raises(PermissionDenied):
        store.add_view(group_scope.id, Actor("bob"), "bo", make_view(2), request_id="req-10")


def test_group_chats_are_those_the_user_was_seen_in_or_added_to(
    store: MemoryStore, add: Callable[..., ConceptInfo]
) -> None:
    seen = store.scope("telegram", ScopeKind.GROUP, "-1")
    added = store.scope("telegram", ScopeKind.GROUP, "-2")
    store.scope("telegram", ScopeKind.GROUP, "-3")  # a group alice never was in
    store.scope("discord", ScopeKind.GROUP, "-1")  # another platform's
    store.note_member(seen.id, "alice")
    store.note_member(seen.id, "alice")  # once is enough
    add(added, Actor("alice"), "bo")
    assert sorted(store.group_chats("telegram", Actor("alice"))) == ["-1", "-2"]
    assert store.group_chats("telegram", Actor("carol")) == []
    assert sorted(store.group_chats("telegram", Actor("x"), ["-3", "-9", "-1"])) == ["-1", "-3"]
    with pytest.raises(InvalidSetting):
        store.group_chats("telegram", "alice")  # type: ignore[arg-type]


def test_reading_settings_and_permissions_creates_no_scope(store: MemoryStore, alice: Actor) -> None:
    found = store.permissions("telegram", ScopeKind.GROUP, "-404", alice)
    assert found.may_write and found.may_change and not found.may_moderate
    assert store.find_scope("telegram", ScopeKind.GROUP, "-404") is None
    assert store.permissions("telegram", ScopeKind.USER, "alice", alice).may_moderate  # the owner


def test_permissions_follow_the_policy(
    store: MemoryStore, group_scope: ScopeInfo, alice: Actor, mod: Actor, add: Callable[..., ConceptInfo]
) -> None:
    add(group_scope, alice, "bo")
    bob = Actor("bob")
    assert store.permissions("telegram", ScopeKind.GROUP, "-100", alice, "bo").may_change
    assert not store.permissions("telegram", ScopeKind.GROUP, "-100", bob, "bo").may_change
    assert store.permissions("telegram", ScopeKind.GROUP, "-100", mod, "bo").may_change
    store.update_settings(group_scope.id, mod, locked=True)
    locked = store.permissions("telegram", ScopeKind.GROUP, "-100", alice, "bo")
    assert not locked.may_change and not locked.may_write
    with pytest.raises(PermissionDenied):
        store.permissions("telegram", ScopeKind.USER, "carol", alice)  # someone else's private memory


def test_sessions_end_one_by_one_all_at_once_and_on_erasure(store: MemoryStore, alice: Actor) -> None:
    HASH_A, HASH_B, HASH_C = fresh_hash(), fresh_hash(), fresh_hash()
    store.open_web_session("telegram", alice, HASH_A, 3600)
    store.open_web_session("telegram", alice, HASH_B, 3600)
    store.open_web_session("telegram", Actor("bob"), HASH_C, 3600)
    assert store.web_session_active("telegram", alice, HASH_A)
    assert not store.web_session_active("telegram", Actor("bob"), HASH_A)  # not bob's
    assert not store.web_session_active("discord", alice, HASH_A)  # not on another platform
    assert store.end_web_sessions("telegram", alice, HASH_A) == 1
    assert not store.web_session_active("telegram", alice, HASH_A)
    assert store.web_session_active("telegram", alice, HASH_B)
    assert store.end_web_sessions("telegram", alice) == 1
    assert not store.web_session_active("telegram", alice, HASH_B)
    assert store.web_session_active("telegram", Actor("bob"), HASH_C)
    store.erase_user("telegram", Actor("bob"))
    assert not store.web_session_active("telegram", Actor("bob"), HASH_C)


def test_a_sign_in_nonce_signs_in_once(store: MemoryStore, alice: Actor) -> None:
    HASH_A, HASH_B, HASH_C = fresh_hash(), fresh_hash(), fresh_hash()
    nonce = secrets.token_urlsafe(24)
    store.open_web_session("console", alice, HASH_A, 3600, sign_in_nonce=nonce)
    with pytest.raises(AlreadyUsed):
        store.open_web_session("console", alice, HASH_B, 3600, sign_in_nonce=nonce)
    store.end_web_sessions("console", alice)
    with pytest.raises(AlreadyUsed):  # signing out does not make the link good again
        store.open_web_session("console", alice, HASH_C, 3600, sign_in_nonce=nonce)
    with pytest.raises(InvalidSetting):
        store.open_web_session("console", alice, "short", 3600)
