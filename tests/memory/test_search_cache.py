"""Searching from RAM (memory/search_cache.py) answers what the Postgres scan answers, and never an
out-of-date copy: every change committed by ANOTHER store (another process: its own engine and
pool) is seen by the next search."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from memory_testkit import DIM, ENCODER, make_view, unit
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from memory.search_cache import pgvector_inner_products
from memory.settings import MemorySettings
from memory.store import MemoryStore
from memory.types import Actor, ScopeInfo, ScopeKind, SearchHit

SETTINGS = dict(max_concepts_per_scope=50, max_views_per_concept=10, max_image_bytes=50_000)


@pytest.fixture
def settings() -> MemorySettings:
    return MemorySettings(**SETTINGS)  # type: ignore[arg-type]


@pytest.fixture
def other(memory_engine: Engine, store: MemoryStore) -> Iterator[MemoryStore]:
    """A second store on its own engine, as another worker process would have."""
    engine = create_engine(memory_engine.url, connect_args={"options": "-c synchronous_commit=off"})
    yield MemoryStore(engine, MemorySettings(**SETTINGS))  # type: ignore[arg-type]
    engine.dispose()


@pytest.fixture
def scanning(memory_engine: Engine, store: MemoryStore) -> MemoryStore:
    """The same database searched without a cache: every search scans Postgres."""
    return MemoryStore(memory_engine, MemorySettings(search_cache_mb=0, **SETTINGS))  # type: ignore[arg-type]


@pytest.fixture
def cached(memory_engine: Engine, store: MemoryStore) -> MemoryStore:
    return MemoryStore(memory_engine, MemorySettings(**SETTINGS))  # type: ignore[arg-type]


def _summary(hits: list[SearchHit]) -> list[tuple[int, int, int, float, float | None, int, int, str]]:
    return sorted(
        (
            h.query_index,
            h.concept.id,
            h.view_id,
            h.similarity,  # to the last bit: the same photo gets the same answer either way
            h.negative_similarity,
            h.concept.view_count,
            h.concept.negative_count,
            h.concept.name,
        )
        for h in hits
    )


def _fill(store: MemoryStore, alice: Actor) -> tuple[ScopeInfo, ScopeInfo]:
    """Two memories: many concepts with several views, some negatives, a second encoder."""
    mine = store.scope("telegram", ScopeKind.USER, "alice")
    group = store.scope("telegram", ScopeKind.GROUP, "-100")
    seed = 0
    for scope in (mine, group):
        for c in range(8):
            seed += 1
            store.add_concept(scope.id, alice, f"thing{c}", "", "dog", make_view(seed))
            for _ in range(c % 4):
                seed += 1
                store.add_view(scope.id, alice, f"thing{c}", make_view(seed))
            if c % 3 == 0:
                seed += 1
                store.add_view(scope.id, alice, f"thing{c}", make_view(seed), negative=True, action="reject")
        seed += 1
        store.add_view(scope.id, alice, "thing1", make_view(seed, dim=16, encoder="other-encoder"))
    return mine, group


def test_cached_search_answers_what_the_postgres_scan_answers(
    store: MemoryStore, cached: MemoryStore, scanning: MemoryStore, alice: Actor
) -> None:
    mine, group = _fill(store, alice)
    rng = np.random.default_rng(7)
    for round_ in range(3):  # the first search loads the copies, the next ones use them
        queries = [unit(int(s)) for s in rng.integers(1, 40, size=3)] + [unit(1000 + round_)]
        for scopes in ([mine.id], [group.id], [mine.id, group.id], [group.id, mine.id, 999_999]):
            for k, pooled in ((1, True), (3, False), (50, False)):
                want = scanning.search(scopes, queries, ENCODER, k=k, pooled=pooled)
                got = cached.search(scopes, queries, ENCODER, k=k, pooled=pooled)
                assert _summary(got) == _summary(want)
                assert got  # something to compare
        assert cached.search_cache.settle()  # the copies the first searches asked for are loaded
    assert cached.search_cache.hits > 0
    assert cached.search([mine.id], [unit(3, 16)], "other-encoder", k=2)[0].concept.name == "thing1"


def test_every_change_by_another_process_is_seen_by_the_next_search(
    cached: MemoryStore, other: MemoryStore, alice: Actor
) -> None:
    # Each search below comes after the copy of the memory's previous state was loaded (settled),
    # so a stale copy would answer if the change were not seen.
    real_search = cached.search

    def search(*args: Any, **kwargs: Any) -> list[SearchHit]:
        assert cached.search_cache.settle()
        return real_search(*args, **kwargs)

    cached.search = search  # type: ignore[method-assign]
    scope = other.scope("telegram", ScopeKind.USER, "alice")
    other.add_concept(scope.id, alice, "bo", "my dog", "dog", make_view(1))
    assert [h.concept.name for h in cached.search([scope.id], unit(1), ENCODER)] == ["bo"]  # a scan
    assert cached.search_cache.settle()
    assert [h.concept.name for h in cached.search([scope.id], unit(1), ENCODER)] == ["bo"]
    assert cached.search_cache.hits == 1  # nothing changed: the copy answered

    other.add_concept(scope.id, alice, "mam", "", "cat", make_view(2))  # a new concept
    assert cached.search([scope.id], unit(2), ENCODER, k=1)[0].concept.name == "mam"

    other.add_view(scope.id, alice, "bo", make_view(3))  # a new photo of bo
    best = cached.search([scope.id], unit(3), ENCODER, k=1)[0]
    assert (best.concept.name, best.concept.view_count, round(best.similarity, 4)) == ("bo", 2, 1.0)

    other.add_view(scope.id, alice, "bo", make_view(4), negative=True, action="reject")  # "that is not bo"
    veto = cached.search([scope.id], unit(4), ENCODER, k=3)
    assert [round(h.negative_similarity or 0, 4) for h in veto if h.concept.name == "bo"] == [1.0]

    other.rename(scope.id, alice, "bo", "bobo")
    assert {h.concept.name for h in cached.search([scope.id], unit(1), ENCODER, k=5)} == {"bobo", "mam"}

    other.edit_description(scope.id, alice, "mam", "the neighbour's cat")
    assert cached.search([scope.id], unit(2), ENCODER, k=1)[0].concept.description == "the neighbour's cat"

    other.forget(scope.id, alice, "bobo")
    assert [h.concept.name for h in cached.search([scope.id], unit(1), ENCODER, k=5)] == ["mam"]

    other.erase_user("telegram", alice)  # /forgetme: the whole memory
    assert cached.search([scope.id], unit(2), ENCODER, k=5) == []


def test_a_truncated_table_is_not_served_from_a_copy(
    cached: MemoryStore, other: MemoryStore, memory_engine: Engine, alice: Actor
) -> None:
    scope = other.scope("telegram", ScopeKind.USER, "alice")
    other.add_concept(scope.id, alice, "bo", "", "dog", make_view(1))
    assert cached.search([scope.id], unit(1), ENCODER)
    assert cached.search_cache.settle()
    assert cached.search([scope.id], unit(1), ENCODER)  # from the copy
    assert cached.search_cache.hits == 1
    with memory_engine.begin() as conn:
        conn.execute(text("TRUNCATE views"))
    assert cached.search([scope.id], unit(1), ENCODER) == []


def test_a_memory_larger_than_the_budget_is_searched_in_postgres(
    memory_engine: Engine, store: MemoryStore, scanning: MemoryStore, alice: Actor
) -> None:
    mine, _ = _fill(store, alice)
    tiny = MemoryStore(memory_engine, MemorySettings(search_cache_mb=0.001, **SETTINGS))  # type: ignore[arg-type]
    queries = [unit(5), unit(9)]
    for _ in range(2):
        assert _summary(tiny.search([mine.id], queries, ENCODER, k=3)) == _summary(
            scanning.search([mine.id], queries, ENCODER, k=3)
        )
    assert len(tiny.search_cache) == 0


def test_a_wrong_query_dimension_is_still_refused(cached: MemoryStore, alice: Actor) -> None:
    scope = cached.scope("telegram", ScopeKind.USER, "alice")
    cached.add_concept(scope.id, alice, "bo", "", "dog", make_view(1))
    with pytest.raises(Exception, match=f"{DIM} numbers|have {DIM}"):
        cached.search([scope.id], unit(1, DIM + 1), ENCODER)


@pytest.mark.parametrize("dim", [13, 16, 20, 128, 512, 767, 768])
def test_a_copy_scores_as_pgvector_does_to_the_last_bit(memory_engine: Engine, dim: int) -> None:
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(dim)
    rows = rng.standard_normal((40, dim)).astype(np.float32)
    query = rng.standard_normal(dim).astype(np.float32)
    with memory_engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        register_vector(raw)
        want = [
            -raw.execute("SELECT %s::vector <#> %s::vector", (row, query)).fetchone()[0]  # type: ignore[index]
            for row in rows
        ]
    assert pgvector_inner_products(rows, query).tolist() == want
