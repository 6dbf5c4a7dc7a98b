"""Vector search: exact per-scope top-k by cosine, pooled per concept, isolated between scopes."""

from __future__ import annotations

import numpy as np
import pytest
from memory_testkit import DIM, ENCODER, MODERATOR, OWNER, jpeg, make_view, unit

from memory.errors import InvalidEmbedding, InvalidSetting
from memory.types import Actor, NewView


def _noisy(seed: int, noise: float, rng_seed: int = 123) -> np.ndarray:
    vec = unit(seed) + noise * np.random.default_rng(rng_seed).standard_normal(DIM).astype(np.float32)
    return vec / np.linalg.norm(vec)


def test_finds_the_matching_concept_first(store, user_scope, alice, add) -> None:
    for i, name in enumerate(["bo", "mochi", "rex"]):
        add(user_scope, alice, name, seed=i)
    hits = store.search([user_scope.id], _noisy(1, 0.1), ENCODER, k=2)
    assert hits[0].concept.name == "mochi" and hits[0].similarity > 0.9
    assert len(hits) == 2 and hits[0].similarity >= hits[1].similarity
    assert hits[0].query_index == 0 and hits[0].view_id == store.views(hits[0].concept.id)[0].id


def test_similarity_is_cosine_and_matches_numpy(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    query = _noisy(1, 0.5)
    [hit] = store.search([user_scope.id], query, ENCODER, k=1)
    assert hit.similarity == pytest.approx(float(unit(1) @ query), abs=1e-5)
    # an unnormalised query gives the same cosine
    [scaled] = store.search([user_scope.id], query * 7.5, ENCODER, k=1)
    assert scaled.similarity == pytest.approx(hit.similarity, abs=1e-5)


def test_pools_views_and_queries_per_concept(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    store.add_view(user_scope.id, alice, "bo", make_view(2))
    add(user_scope, alice, "rex", seed=3)
    queries = np.stack([_noisy(3, 0.3), unit(2)])
    hits = store.search([user_scope.id], queries, ENCODER, k=2)
    by_name = {h.concept.name: h for h in hits}
    assert by_name["bo"].similarity == pytest.approx(1.0, abs=1e-5)  # second view, second query
    assert by_name["bo"].query_index == 1
    assert by_name["bo"].view_id == store.views(by_name["bo"].concept.id)[1].id
    assert by_name["rex"].query_index == 0
    assert [h.concept.name for h in hits] == ["bo", "rex"]


def test_top_k_is_per_query_row(store, user_scope, alice, add) -> None:
    for i in range(5):
        add(user_scope, alice, f"c{i}", seed=i)
    assert len(store.search([user_scope.id], unit(0), ENCODER, k=1)) == 1
    assert len(store.search([user_scope.id], unit(0), ENCODER, k=3)) == 3
    assert len(store.search([user_scope.id], np.stack([unit(0), unit(4)]), ENCODER, k=1)) == 2
    with pytest.raises(InvalidSetting):
        store.search([user_scope.id], unit(0), ENCODER, k=0)


def test_min_similarity_drops_weak_hits(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    add(user_scope, alice, "rex", seed=2)
    hits = store.search([user_scope.id], unit(1), ENCODER, k=2, min_similarity=0.75)
    assert [h.concept.name for h in hits] == ["bo"]
    assert store.search([user_scope.id], -unit(1), ENCODER, k=2, min_similarity=0.75) == []


def test_scopes_are_isolated_unless_asked_for(store, user_scope, group_scope, alice, add) -> None:
    bob_scope = store.scope("telegram", "user", "bob")
    add(user_scope, alice, "bo", seed=1)
    add(bob_scope, Actor("bob"), "bobs dog", seed=1)  # identical vector in another scope
    add(group_scope, alice, "office plant", seed=1)
    assert {h.concept.name for h in store.search([user_scope.id], unit(1), ENCODER, k=5)} == {"bo"}
    both = store.search([user_scope.id, group_scope.id], unit(1), ENCODER, k=5)
    assert {h.concept.name for h in both} == {"bo", "office plant"}
    other_platform = store.scope("discord", "user", "alice")
    assert store.search([other_platform.id], unit(1), ENCODER) == []


def test_encoders_are_searched_separately(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    add(user_scope, alice, "rex", view=make_view(1, dim=8, encoder="other:enc"))
    assert [h.concept.name for h in store.search([user_scope.id], unit(1, 8), "other:enc")] == ["rex"]
    assert store.search([user_scope.id], unit(1), "never:used") == []


def test_wrong_query_dimension(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    with pytest.raises(InvalidEmbedding, match="has 8 numbers"):
        store.search([user_scope.id], unit(1, 8), ENCODER)
    with pytest.raises(InvalidEmbedding, match="not finite"):
        store.search([user_scope.id], np.full(DIM, np.nan), ENCODER)


def test_empty_inputs(store, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    assert store.search([], unit(1), ENCODER) == []
    assert store.search([user_scope.id], np.zeros((0, DIM), dtype=np.float32), ENCODER) == []


def test_shared_copy_is_found_in_the_group_only_after_sharing(store, user_scope, group_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    store.add_view(user_scope.id, alice, "bo", NewView(jpeg((1, 2, 3)), unit(2), ENCODER))
    assert store.search([group_scope.id], unit(1), ENCODER) == []
    copy = store.share(user_scope.id, group_scope.id, alice, "bo")
    assert copy.shared_from == store.get(user_scope.id, OWNER, "bo").id and copy.view_count == 2
    [hit] = store.search([group_scope.id], unit(2), ENCODER, k=1)
    assert hit.concept.id == copy.id and hit.similarity == pytest.approx(1.0, abs=1e-5)
    assert store.views(copy.id)[1].image_jpeg == jpeg((1, 2, 3))
    # the copy lives on when the original is forgotten
    store.forget(user_scope.id, alice, "bo")
    assert store.get(group_scope.id, MODERATOR, "bo").shared_from is None
    assert store.search([group_scope.id], unit(2), ENCODER, k=1)[0].concept.id == copy.id
