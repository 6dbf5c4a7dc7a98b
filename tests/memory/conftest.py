"""Fixtures of the memory tests: a store on a fresh migrated database, actors, scopes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from memory_testkit import make_view, truncate_all
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from memory.settings import MemorySettings
from memory.store import MemoryStore
from memory.types import Actor, ConceptInfo, ScopeInfo, ScopeKind


@pytest.fixture
def settings() -> MemorySettings:
    return MemorySettings(max_concepts_per_scope=5, max_views_per_concept=3, max_image_bytes=50_000)


@pytest.fixture(scope="session")
def memory_engine(pg_server: Any, migrated_template: str) -> Iterator[Engine]:
    """One migrated database for all memory tests, emptied before each (TRUNCATE is far cheaper
    than a database per test, and leaves no pile of databases for the server to flush at exit)."""
    name = f"memtests_{os.getpid()}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {migrated_template};")
    url = pg_server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
    # Test data need not survive a crash: skip the commit fsync.
    engine = create_engine(url, connect_args={"options": "-c synchronous_commit=off"})
    yield engine
    engine.dispose()


@pytest.fixture
def store(memory_engine: Engine, settings: MemorySettings) -> MemoryStore:
    truncate_all(memory_engine)
    return MemoryStore(memory_engine, settings)


@pytest.fixture
def alice() -> Actor:
    return Actor("alice")


@pytest.fixture
def mod() -> Actor:
    return Actor("mod", moderator=True)


@pytest.fixture
def user_scope(store: MemoryStore) -> ScopeInfo:
    return store.scope("telegram", ScopeKind.USER, "alice")


@pytest.fixture
def group_scope(store: MemoryStore) -> ScopeInfo:
    return store.scope("telegram", ScopeKind.GROUP, "-100")


@pytest.fixture
def add(store: MemoryStore) -> Callable[..., ConceptInfo]:
    """add(scope, actor, name, seed=..) with a default description and category."""

    def _add(scope: ScopeInfo, actor: Actor, name: str, seed: int = 0, **kw: Any) -> ConceptInfo:
        return store.add_concept(
            scope.id,
            actor,
            name,
            kw.pop("description", "a thing"),
            kw.pop("category", "dog"),
            kw.pop("view", None) or make_view(seed),
            **kw,
        )

    return _add
