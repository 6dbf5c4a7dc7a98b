"""Negative views: crops a user said are NOT a concept. They are counted apart from its photos,
never rank in search, carry their similarity on each hit so a caller can veto, share the views
quota, are audited, and travel with a share and an export."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable

import numpy as np
import pytest
from memory_testkit import jpeg, make_view, unit

from memory.errors import DuplicatePhoto, QuotaExceeded
from memory.store import MemoryStore
from memory.types import Actor, ConceptInfo, NewView, ScopeInfo


def _between(a: int, b: int, weight: float) -> np.ndarray:
    """A unit vector between seeds a and b (weight 1.0: a itself)."""
    vec = weight * unit(a) + (1.0 - weight) * unit(b)
    return (vec / np.linalg.norm(vec)).astype(np.float32)


def _view(vec: np.ndarray, colour: tuple[int, int, int]) -> NewView:
    return NewView(image_jpeg=jpeg(colour), embedding=vec, encoder=make_view().encoder, box=None)


def test_negative_views_are_counted_apart_and_never_rank(
    store: MemoryStore, user_scope: ScopeInfo, alice: Actor, add: Callable[..., ConceptInfo]
) -> None:
    add(user_scope, alice, "bo", seed=1)
    lookalike = _between(1, 2, 0.5)
    rejected = store.add_view(user_scope.id, alice, "bo", _view(lookalike, (1, 2, 3)), negative=True)

    assert (rejected.view_count, rejected.negative_count) == (1, 1)
    assert [c.negative_count for c in store.list_concepts(user_scope.id, alice).items] == [1]
    assert len(store.views(rejected.id)) == 1 and not store.views(rejected.id)[0].negative
    [negative] = store.views(rejected.id, negative=True)
    assert negative.negative and negative.image_jpeg == jpeg((1, 2, 3))

    # The look-alike itself: bo ranks by its own photo only, and the hit says how close the negative is.
    [hit] = store.search([user_scope.id], lookalike[None, :], make_view().encoder)
    assert hit.view_id == store.views(hit.concept.id)[0].id
    assert hit.similarity == pytest.approx(float(unit(1) @ lookalike), abs=1e-5)
    assert hit.negative_similarity == pytest.approx(1.0, abs=1e-5)
    assert hit.concept.negative_count == 1 and hit.concept.view_count == 1
    # bo's own photo: closer to bo than to the negative.
    [own] = store.search([user_scope.id], unit(1)[None, :], make_view().encoder)
    assert own.similarity == pytest.approx(1.0, abs=1e-5)
    assert own.negative_similarity is not None and own.negative_similarity < own.similarity


def test_a_concept_without_negatives_has_none_and_unpooled_search_keeps_each_query_row(
    store: MemoryStore, user_scope: ScopeInfo, alice: Actor, add: Callable[..., ConceptInfo]
) -> None:
    add(user_scope, alice, "bo", seed=1)
    queries = np.stack([unit(1), _between(1, 2, 0.6)])

    pooled = store.search([user_scope.id], queries, make_view().encoder)
    assert [(h.concept.name, h.query_index, h.negative_similarity) for h in pooled] == [("bo", 0, None)]
    rows = store.search([user_scope.id], queries, make_view().encoder, pooled=False)
    assert [(h.concept.name, h.query_index) for h in rows] == [("bo", 0), ("bo", 1)]


def test_negatives_of_one_concept_do_not_crowd_out_another(
    store: MemoryStore, user_scope: ScopeInfo, alice: Actor, add: Callable[..., ConceptInfo]
) -> None:
    """Top-k is over the concepts' own photos: negatives of bo that look like rex never push rex out."""
    add(user_scope, alice, "bo", seed=1)
    add(user_scope, alice, "rex", seed=2)
    for i, weight in enumerate((0.9, 0.85)):
        store.add_view(user_scope.id, alice, "bo", _view(_between(2, 1, weight), (i, 9, 9)), negative=True)

    # The query IS bo's first negative: were negatives ranked, it would take the only slot.
    hits = store.search([user_scope.id], _between(2, 1, 0.9)[None, :], make_view().encoder, k=1)
    assert [h.concept.name for h in hits] == ["rex"]


def test_negatives_share_the_views_quota_and_are_audited(
    store: MemoryStore, user_scope: ScopeInfo, alice: Actor, add: Callable[..., ConceptInfo]
) -> None:
    add(user_scope, alice, "bo", seed=1)  # quota: 3 views per concept (tests/memory/conftest.py)
    store.add_view(user_scope.id, alice, "bo", _view(unit(5), (5, 5, 5)), action="confirm")
    store.add_view(user_scope.id, alice, "bo", _view(unit(6), (6, 6, 6)), negative=True)
    with pytest.raises(QuotaExceeded, match="counting 1 it is not"):
        store.add_view(user_scope.id, alice, "bo", _view(unit(7), (7, 7, 7)), negative=True)

    actions = [(e.action, e.details.get("name")) for e in store.audit(user_scope.id, alice)]
    assert actions[:3] == [("reject", "bo"), ("confirm", "bo"), ("add", "bo")]
    info = store.get(user_scope.id, alice, "bo")
    assert (info.view_count, info.negative_count) == (2, 1)


def test_the_same_crop_twice_is_refused_either_way(
    store: MemoryStore, user_scope: ScopeInfo, alice: Actor, add: Callable[..., ConceptInfo]
) -> None:
    add(user_scope, alice, "bo", seed=1)
    crop = _view(unit(5), (5, 5, 5))
    store.add_view(user_scope.id, alice, "bo", crop, negative=True)
    with pytest.raises(DuplicatePhoto, match="already noted as not <bo>"):
        store.add_view(user_scope.id, alice, "bo", crop)
    assert store.get(user_scope.id, alice, "bo").negative_count == 1


def test_share_and_export_carry_negatives(
    store: MemoryStore,
    user_scope: ScopeInfo,
    group_scope: ScopeInfo,
    alice: Actor,
    add: Callable[..., ConceptInfo],
) -> None:
    add(user_scope, alice, "bo", seed=1)
    store.add_view(user_scope.id, alice, "bo", _view(unit(5), (5, 5, 5)), negative=True)

    copy = store.share(user_scope.id, group_scope.id, alice, "bo")
    assert (copy.view_count, copy.negative_count) == (1, 1)
    [hit] = store.search([group_scope.id], unit(5)[None, :], make_view().encoder)
    assert hit.negative_similarity == pytest.approx(1.0, abs=1e-5)

    with zipfile.ZipFile(io.BytesIO(store.export_user("telegram", alice))) as archive:
        manifest = json.loads(archive.read("concepts.json"))
    flags = [[view["negative"] for view in concept["views"]] for concept in manifest["concepts"]]
    assert sorted(flags) == [[False, True], [False, True]]


def test_downgrading_below_0003_drops_negatives_and_keeps_own_photos(empty_database_url: str) -> None:
    """Without the column a negative view would read as one of the concept's photos: it goes."""
    from sqlalchemy import create_engine, text

    from memory.migrate import downgrade, upgrade

    upgrade(empty_database_url)
    store = MemoryStore(empty_database_url)
    try:
        scope = store.scope("telegram", "user", "alice")
        store.add_concept(scope.id, Actor("alice"), "bo", "", "dog", make_view(1))
        store.add_view(scope.id, Actor("alice"), "bo", _view(unit(5), (5, 5, 5)), negative=True)
    finally:
        store.close()
    downgrade(empty_database_url, "0002")
    engine = create_engine(empty_database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM views")).scalar_one() == 1
    finally:
        engine.dispose()
    upgrade(empty_database_url)
    store = MemoryStore(empty_database_url)
    try:
        info = store.get(store.scope("telegram", "user", "alice").id, Actor("alice"), "bo")
        assert (info.view_count, info.negative_count) == (1, 0)
    finally:
        store.close()
