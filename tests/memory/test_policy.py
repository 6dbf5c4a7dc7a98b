"""memory.policy through the public MemoryStore API, reads included: a user's memory is its owner's
alone; in a group, the audit log, lock, threshold, auto-captions and purge are for moderators, and a
member changes only what they added. And the console, whose frontend checks nothing itself, gets the
same refusals from the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from memory_testkit import MODERATOR, OWNER, make_view

from bot.console import ConsoleSession, make_requester
from bot.settings import ConsoleSettings
from memory.errors import PermissionDenied
from memory.store import MemoryStore
from memory.types import Actor
from worker.domain.pending import InMemoryPendingStore
from worker.domain.runtime import Runtime
from worker.settings import WorkerSettings
from worker.transport.local import LocalClient

BOB = Actor("bob")
MEMBER = Actor("kid")


def test_a_member_is_refused_every_moderator_action_and_nothing_changes(store, group_scope, alice, add) -> None:
    add(group_scope, alice, "plant")
    refusals = {
        "read the audit log": lambda: store.audit(group_scope.id, MEMBER),
        "lock or unlock": lambda: store.update_settings(group_scope.id, MEMBER, locked=True),
        "similarity threshold": lambda: store.update_settings(group_scope.id, MEMBER, similarity_threshold=0.5),
        "automatic captions": lambda: store.update_settings(group_scope.id, MEMBER, auto_caption=True),
        "settings": lambda: store.update_settings(group_scope.id, MEMBER, locked=True, auto_caption=True),
        "remove a member's things": lambda: store.purge_member(group_scope.id, MEMBER, "alice"),
    }
    for wording, call in refusals.items():
        with pytest.raises(PermissionDenied, match=f"Only moderators can .*{wording}.* in a group") as refused:
            call()
        assert "moderators" in str(refused.value), wording
    with pytest.raises(PermissionDenied, match='Only the member who added "plant" or a moderator'):
        store.forget(group_scope.id, MEMBER, "plant")

    settings = store.get_settings(group_scope.id, MEMBER).settings  # members may read the settings
    assert (settings.locked, settings.similarity_threshold, settings.auto_caption) == (False, None, False)
    assert [c.name for c in store.list_concepts(group_scope.id, MEMBER).items] == ["plant"]
    assert [e.action for e in store.audit(group_scope.id, MODERATOR)] == ["add"]  # no refused call wrote


def test_a_moderator_may_do_each_of_them(store, group_scope, alice, mod, add) -> None:
    add(group_scope, alice, "plant")
    add(group_scope, alice, "cup", seed=2)
    assert store.update_settings(group_scope.id, mod, locked=True).settings.locked
    assert store.update_settings(group_scope.id, mod, similarity_threshold=0.5).settings.similarity_threshold == 0.5
    assert store.update_settings(group_scope.id, mod, auto_caption=True).settings.auto_caption
    store.forget(group_scope.id, mod, "plant")
    assert store.purge_member(group_scope.id, mod, "alice") == 1
    actions = [e.action for e in store.audit(group_scope.id, mod)]
    assert actions[:5] == ["purge", "forget", "settings", "settings", "settings"]
    assert store.list_concepts(group_scope.id, MEMBER).total == 0


def test_a_users_memory_is_read_and_changed_by_its_owner_only(store, user_scope, alice, mod, add) -> None:
    add(user_scope, alice, "bo")
    for stranger in (BOB, mod):  # a moderator flag is about a group: it opens no one's private memory
        reads = [
            lambda a=stranger: store.list_concepts(user_scope.id, a),
            lambda a=stranger: store.get(user_scope.id, a, "bo"),
            lambda a=stranger: store.concept_views(user_scope.id, a, "bo"),
            lambda a=stranger: store.audit(user_scope.id, a),
            lambda a=stranger: store.get_settings(user_scope.id, a),
        ]
        writes = [
            lambda a=stranger: store.add_concept(user_scope.id, a, "rex", "", "dog", make_view(3)),
            lambda a=stranger: store.add_view(user_scope.id, a, "bo", make_view(4)),
            lambda a=stranger: store.rename(user_scope.id, a, "bo", "mine"),
            lambda a=stranger: store.forget(user_scope.id, a, "bo"),
            lambda a=stranger: store.update_settings(user_scope.id, a, similarity_threshold=0.1),
            lambda a=stranger: store.check_can_write(user_scope.id, a),
        ]
        for call in reads + writes:
            with pytest.raises(PermissionDenied, match="someone else's private memory"):
                call()
    concept, views = store.concept_views(user_scope.id, OWNER, "bo")
    assert (concept.name, concept.view_count, len(views)) == ("bo", 1, 1)
    assert [e.action for e in store.audit(user_scope.id, OWNER)] == ["add"]
    assert store.get_settings(user_scope.id, OWNER).settings.similarity_threshold is None


def test_nobody_shares_out_of_someone_elses_private_memory(store, user_scope, group_scope, alice, mod, add) -> None:
    add(user_scope, alice, "bo")
    for stranger in (BOB, mod):
        with pytest.raises(PermissionDenied, match="someone else's private memory"):
            store.share(user_scope.id, group_scope.id, stranger, "bo")
    assert store.list_concepts(group_scope.id, MEMBER).total == 0
    assert store.share(user_scope.id, group_scope.id, alice, "bo").created_by == "alice"


def test_export_and_erase_act_on_the_actors_own_data(store: MemoryStore, user_scope, group_scope, alice, add) -> None:
    add(user_scope, alice, "bo")
    add(group_scope, BOB, "mug", seed=2)
    report = store.erase_user("telegram", BOB)
    assert (report.scopes_deleted, report.concepts_deleted) == (0, 1)
    assert [c.name for c in store.list_concepts(user_scope.id, OWNER).items] == ["bo"]


@pytest.fixture
def console_client(store: MemoryStore) -> LocalClient:
    """The console's client over the test store, serving the memory only (no network is needed)."""
    settings = WorkerSettings()
    return LocalClient(Runtime(store, settings, InMemoryPendingStore(settings.pending_ttl_s), serve_models=False))


async def test_console_group_member_without_admin_is_refused(console_client: LocalClient, tmp_path: Path) -> None:
    member = ConsoleSession(console_client, make_requester("kid", "family", False), tmp_path, ConsoleSettings())
    moderator = ConsoleSession(console_client, make_requester("mod", "family", True), tmp_path, ConsoleSettings())
    before = await member.handle_line("/threshold")  # reading the settings is for members too
    assert "locked: no" in before and "threshold: 0.75" in before

    for line, wording in (
        ("/audit", "read the audit log"),
        ("/lock", "lock or unlock"),
        ("/threshold 0.5", "similarity threshold"),
        ("/purge x", "remove a member's things"),
    ):
        reply = await member.handle_line(line)
        assert "Only moderators can" in reply and wording in reply, (line, reply)
        assert "Ask a moderator" in reply

    assert await member.handle_line("/threshold") == before  # nothing changed
    assert await moderator.handle_line("/audit") == "no changes recorded yet."
    assert "locked: yes" in await moderator.handle_line("/lock")
    assert "mod  settings" in await moderator.handle_line("/audit")
