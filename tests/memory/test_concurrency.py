"""Writers racing on one scope: get-or-create, redelivered requests and the quota stay exact."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from memory_testkit import MODERATOR, OWNER, make_view

from memory.errors import DuplicateName, QuotaExceeded
from memory.types import Actor, ScopeKind


def test_racing_get_or_create_makes_one_scope(store) -> None:
    with ThreadPoolExecutor(6) as pool:
        scopes = list(pool.map(lambda _: store.scope("discord", ScopeKind.GROUP, "guild-1"), range(12)))
    assert len({s.id for s in scopes}) == 1


def test_redelivered_request_makes_one_concept(store, user_scope, alice) -> None:
    def remember(_: int):
        return store.add_concept(user_scope.id, alice, "bo", "", "dog", make_view(1), request_id="celery-42")

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(remember, range(12)))
    assert len({c.id for c in results}) == 1
    assert store.list_concepts(user_scope.id, OWNER).total == 1
    assert [e.action for e in store.audit(user_scope.id, OWNER)] == ["add"]


def test_racing_adds_respect_names_and_quota(store, group_scope) -> None:
    limit = store.settings.max_concepts_per_scope

    def add(i: int) -> str:
        try:
            store.add_concept(group_scope.id, Actor(f"u{i}"), f"thing {i % (limit + 2)}", "", "dog", make_view(i))
        except (DuplicateName, QuotaExceeded) as err:
            return err.code
        return "ok"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(add, range(3 * limit)))
    assert outcomes.count("ok") == limit
    assert store.list_concepts(group_scope.id, MODERATOR).total == limit
