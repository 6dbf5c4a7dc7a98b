"""A hypothesis state machine of random adds, views, renames, forgets, shares, searches, purges and
erasures by 5 users in their own memories and 3 groups, checked against a plain model after every
step: nothing of one scope is returned for another unless shared into it, a forgotten concept is gone
at once, and an erased user leaves no concept, view or image behind, nor any audit record that
names them or their concepts (also ones a moderator changed and purged before)."""

from __future__ import annotations

import itertools
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from memory_testkit import ENCODER, make_view, truncate_all, unit
from sqlalchemy import text
from sqlalchemy.engine import Engine

from memory.errors import DuplicateName, MemoryStoreError, PermissionDenied, QuotaExceeded, UnknownConcept
from memory.settings import MemorySettings
from memory.store import MemoryStore
from memory.types import Actor, ScopeKind

PLATFORM = "telegram"
USERS = range(5)
GROUPS = range(3)
NAMES = ["bo", "Bo", "mochi", "Ｍｏｃｈｉ", "rex", "🐶 dog", "office plant"]
MAX_CONCEPTS, MAX_VIEWS = 4, 3

ScopeKey = tuple[str, str]  # (kind, external id)


def key(name: str) -> str:
    return unicodedata.normalize("NFKC", name.casefold())


def user_key(user: int) -> ScopeKey:
    return ("user", f"u{user}")


def group_key(group: int) -> ScopeKey:
    return ("group", f"g{group}")


@dataclass
class ModelConcept:
    name: str
    owner: str
    seeds: list[int] = field(default_factory=list)


class MemoryMachine(RuleBasedStateMachine):
    engine: Engine  # set by the test

    def __init__(self) -> None:
        super().__init__()
        truncate_all(self.engine)
        self.store = MemoryStore(
            self.engine, MemorySettings(max_concepts_per_scope=MAX_CONCEPTS, max_views_per_concept=MAX_VIEWS)
        )
        self.model: dict[ScopeKey, dict[str, ModelConcept]] = {}
        self.scope_ids: dict[ScopeKey, int] = {}
        self.seeds = itertools.count(1)
        self.created: defaultdict[str, set[int]] = defaultdict(set)  # concept ids each user created

    # ---- helpers --------------------------------------------------------------------------------

    def sid(self, scope: ScopeKey) -> int:
        if scope not in self.scope_ids:
            self.scope_ids[scope] = self.store.scope(PLATFORM, ScopeKind(scope[0]), scope[1]).id
            self.model.setdefault(scope, {})
        return self.scope_ids[scope]

    @staticmethod
    def actor(user: int) -> Actor:
        return Actor(f"u{user}", moderator=user == 0)

    def target(self, user: int, group: int | None) -> ScopeKey:
        return user_key(user) if group is None else group_key(group)

    def expect_write(self, scope: ScopeKey, user: int, name: str) -> type[MemoryStoreError] | None:
        concept = self.model.get(scope, {}).get(key(name))
        if concept is None:
            return UnknownConcept
        if scope[0] == "group" and user != 0 and concept.owner != f"u{user}":
            return PermissionDenied
        return None

    def outcome(self, expected: type[MemoryStoreError] | None, call) -> object:  # type: ignore[no-untyped-def]
        if expected is None:
            return call()
        with pytest.raises(expected):
            call()
        return None

    # ---- rules ----------------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), group=st.none() | st.sampled_from(GROUPS), name=st.sampled_from(NAMES))
    def add(self, user: int, group: int | None, name: str) -> None:
        scope = self.target(user, group)
        sid = self.sid(scope)
        concepts = self.model[scope]
        expected = DuplicateName if key(name) in concepts else QuotaExceeded if len(concepts) >= MAX_CONCEPTS else None
        seed = next(self.seeds)
        view = make_view(seed)
        made = self.outcome(expected, lambda: self.store.add_concept(sid, self.actor(user), name, "", "thing", view))
        if made:
            concepts[key(name)] = ModelConcept(name, f"u{user}", [seed])
            self.created[f"u{user}"].add(made.id)  # type: ignore[attr-defined]

    @rule(user=st.sampled_from(USERS), group=st.none() | st.sampled_from(GROUPS), name=st.sampled_from(NAMES))
    def add_view(self, user: int, group: int | None, name: str) -> None:
        scope = self.target(user, group)
        sid = self.sid(scope)
        expected = self.expect_write(scope, user, name)
        if expected is None and len(self.model[scope][key(name)].seeds) >= MAX_VIEWS:
            expected = QuotaExceeded
        seed = next(self.seeds)
        if self.outcome(expected, lambda: self.store.add_view(sid, self.actor(user), name, make_view(seed))):
            self.model[scope][key(name)].seeds.append(seed)

    @rule(
        user=st.sampled_from(USERS),
        group=st.none() | st.sampled_from(GROUPS),
        old=st.sampled_from(NAMES),
        new=st.sampled_from(NAMES),
    )
    def rename(self, user: int, group: int | None, old: str, new: str) -> None:
        scope = self.target(user, group)
        sid = self.sid(scope)
        expected = self.expect_write(scope, user, old)
        if expected is None and key(new) != key(old) and key(new) in self.model[scope]:
            expected = DuplicateName
        if self.outcome(expected, lambda: self.store.rename(sid, self.actor(user), old, new)):
            concept = self.model[scope].pop(key(old))
            concept.name = new
            self.model[scope][key(new)] = concept

    @rule(user=st.sampled_from(USERS), group=st.none() | st.sampled_from(GROUPS), name=st.sampled_from(NAMES))
    def forget(self, user: int, group: int | None, name: str) -> None:
        scope = self.target(user, group)
        sid = self.sid(scope)
        expected = self.expect_write(scope, user, name)
        if expected is not None:
            self.outcome(expected, lambda: self.store.forget(sid, self.actor(user), name))
            return
        concept_id = self.store.get(sid, self.actor(user), name).id
        seeds = self.model[scope].pop(key(name)).seeds
        self.store.forget(sid, self.actor(user), name)
        # gone at once from get, list and search
        with pytest.raises(UnknownConcept):
            self.store.get(sid, self.actor(user), name)
        assert concept_id not in {c.id for c in self.store.list_concepts(sid, self.actor(user), limit=100).items}
        hits = self.store.search([sid], [unit(s) for s in seeds], ENCODER, k=MAX_VIEWS)
        assert concept_id not in {h.concept.id for h in hits}

    @rule(user=st.sampled_from(USERS), group=st.sampled_from(GROUPS), name=st.sampled_from(NAMES))
    def share(self, user: int, group: int, name: str) -> None:
        source, target = user_key(user), group_key(group)
        from_id, to_id = self.sid(source), self.sid(target)
        original = self.model[source].get(key(name))
        expected: type[MemoryStoreError] | None = None
        if original is None:
            expected = UnknownConcept
        elif key(name) in self.model[target]:
            expected = DuplicateName
        elif len(self.model[target]) >= MAX_CONCEPTS:
            expected = QuotaExceeded
        copy = self.outcome(expected, lambda: self.store.share(from_id, to_id, self.actor(user), name))
        if copy:
            assert original is not None
            self.created[f"u{user}"].add(copy.id)  # type: ignore[attr-defined]
            self.model[target][key(name)] = ModelConcept(original.name, f"u{user}", list(original.seeds))

    @rule(user=st.sampled_from(USERS), group=st.none() | st.sampled_from(GROUPS), pick=st.integers(0, 10_000))
    def search(self, user: int, group: int | None, pick: int) -> None:
        readable = [user_key(user)] + ([] if group is None else [group_key(group)])
        ids = [self.sid(s) for s in readable]
        every_seed = sorted({s for concepts in self.model.values() for c in concepts.values() for s in c.seeds})
        seed = every_seed[pick % len(every_seed)] if every_seed else 0
        hits = self.store.search(ids, unit(seed), ENCODER, k=2)
        visible = {(self.scope_ids[s], k) for s in readable for k in self.model[s]}
        for hit in hits:
            assert hit.concept.scope_id in ids
            assert (hit.concept.scope_id, key(hit.concept.name)) in visible
        holders = {(self.scope_ids[s], k) for s in readable for k, c in self.model[s].items() if seed in c.seeds}
        if holders:
            assert hits and hits[0].similarity > 0.999
            assert (hits[0].concept.scope_id, key(hits[0].concept.name)) in holders
        else:
            assert all(h.similarity < 0.999 for h in hits)

    @rule(group=st.sampled_from(GROUPS), member=st.sampled_from(USERS))
    def purge(self, group: int, member: int) -> None:
        """The moderator (u0) removes everything one member added to a group."""
        scope = group_key(group)
        sid = self.sid(scope)
        owned = [k for k, c in self.model[scope].items() if c.owner == f"u{member}"]
        assert self.store.purge_member(sid, self.actor(0), f"u{member}") == len(owned)
        for k in owned:
            del self.model[scope][k]

    @rule(user=st.sampled_from(USERS))
    def erase(self, user: int) -> None:
        me, own = f"u{user}", user_key(user)
        own_concepts = self.model.pop(own, {})
        contributed = {
            scope: [k for k, c in concepts.items() if c.owner == me]
            for scope, concepts in self.model.items()
            if scope[0] == "group"
        }
        views = sum(len(c.seeds) for c in own_concepts.values()) + sum(
            len(self.model[s][k].seeds) for s, keys in contributed.items() for k in keys
        )
        report = self.store.erase_user(PLATFORM, Actor(me))
        assert report.scopes_deleted == (1 if self.scope_ids.pop(own, None) else 0)
        assert report.concepts_deleted == len(own_concepts) + sum(len(k) for k in contributed.values())
        assert report.views_deleted == views
        for scope, keys in contributed.items():
            for k in keys:
                del self.model[scope][k]
        with self.engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM concepts c JOIN scopes s ON s.id = c.scope_id WHERE c.created_by = :u"),
                {"u": me},
            ).scalar_one()
            # the audit keeps that things happened, never by or about whom, nor the names they had
            named = conn.execute(
                text(
                    """
                    SELECT count(*) FROM audit_events
                    WHERE actor = :u OR subject = :u OR details::text LIKE :quoted
                       OR (concept_id = ANY(:ids) AND details <> '{}'::jsonb)
                    """
                ),
                {"u": me, "quoted": f'%"{me}"%', "ids": sorted(self.created.pop(me, set()))},
            ).scalar_one()
        assert left == 0
        assert named == 0

    # ---- after every step -----------------------------------------------------------------------

    @invariant()
    def database_matches_model(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    """
                    SELECT s.kind, s.external_id, c.name, c.created_by,
                           coalesce(array_agg(v.id ORDER BY v.id) FILTER (WHERE v.id IS NOT NULL), '{}') AS views,
                           bool_and(v.scope_id IS NULL OR v.scope_id = c.scope_id) AS same_scope
                    FROM concepts c JOIN scopes s ON s.id = c.scope_id LEFT JOIN views v ON v.concept_id = c.id
                    GROUP BY s.kind, s.external_id, c.id
                    """
                )
            ).all()
            orphans = conn.execute(
                text("SELECT count(*) FROM views v LEFT JOIN concepts c ON c.id = v.concept_id WHERE c.id IS NULL")
            ).scalar_one()
        actual = {((r.kind, r.external_id), r.name, r.created_by, len(r.views)) for r in rows}
        expected = {
            (scope, c.name, c.owner, len(c.seeds)) for scope, concepts in self.model.items() for c in concepts.values()
        }
        assert actual == expected
        assert all(r.same_scope for r in rows) and orphans == 0


def test_store_behaves_like_the_model(memory_engine: Engine) -> None:
    MemoryMachine.engine = memory_engine
    run_state_machine_as_test(
        MemoryMachine,
        settings=settings(
            max_examples=200,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
