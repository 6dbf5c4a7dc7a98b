"""Views in memory order (migration 0006): embeddings inline, the table clustered by (scope_id,
encoder), `rapbot db cluster` orders the rows added since, and search results do not change; the
search runs a generic plan without leaving that setting on the pooled connection."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
from memory_testkit import ENCODER, make_view, unit
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from memory.migrate import downgrade, upgrade
from memory.repositories import search
from rapbot.cli import app

_STORAGE = "SELECT attstorage FROM pg_attribute WHERE attrelid = 'views'::regclass AND attname = 'embedding'"
_CLUSTERED = "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'views'::regclass AND indisclustered"


def _layout(url_or_engine: str | Engine) -> tuple[str, list[str]]:
    engine = create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.connect() as conn:
            return conn.execute(text(_STORAGE)).scalar_one(), list(conn.execute(text(_CLUSTERED)).scalars())
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def test_migration_keeps_embeddings_inline_and_clusters_by_scope(memory_engine) -> None:
    assert _layout(memory_engine) == ("m", ["ix_views_scope_id_encoder"])


def test_migration_0006_down_and_up(empty_database_url) -> None:
    upgrade(empty_database_url, "0006")
    assert _layout(empty_database_url) == ("m", ["ix_views_scope_id_encoder"])
    downgrade(empty_database_url, "0005")
    assert _layout(empty_database_url) == ("e", [])
    upgrade(empty_database_url, "0006")
    assert _layout(empty_database_url) == ("m", ["ix_views_scope_id_encoder"])


def _scope_order(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT scope_id FROM views ORDER BY ctid")).scalars())


def test_cluster_orders_views_by_memory_and_search_is_unchanged(
    store, memory_engine, user_scope, group_scope, alice, add
) -> None:
    for i in range(4):  # two memories' views arrive interleaved
        add(user_scope, alice, f"u{i}", seed=i)
        add(group_scope, alice, f"g{i}", seed=10 + i)
        store.add_view(user_scope.id, alice, f"u{i}", make_view(20 + i))
    order = _scope_order(memory_engine)
    assert order != sorted(order)
    queries = np.stack([unit(1), unit(12), unit(22)])

    def results() -> list[tuple[str, float, int, int]]:
        hits = store.search([user_scope.id, group_scope.id], queries, ENCODER, k=3, pooled=False)
        return [(h.concept.name, round(h.similarity, 6), h.query_index, h.view_id) for h in hits]

    before = results()
    url = memory_engine.url.render_as_string(hide_password=False)
    outcome = CliRunner().invoke(app, ["db", "cluster", "--url", url])
    assert outcome.exit_code == 0, outcome.output
    assert "ordered" in outcome.output
    order = _scope_order(memory_engine)
    assert order == sorted(order)
    assert results() == before


def test_search_runs_a_generic_plan_and_resets_the_setting(store, memory_engine, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    with memory_engine.connect() as conn, Session(bind=conn) as s:
        for _ in range(7):  # psycopg prepares the statement from its 5th run
            [hit] = search.nearest(s, [user_scope.id], unit(1)[None, :], ENCODER, 1)
            assert hit.concept.name == "bo"
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "auto"
        generic = conn.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE strpos(statement, 'WITH hits') > 0"
            )
        ).one()
        assert generic.generic_plans > 0 and generic.custom_plans == 0


def test_a_failed_search_leaves_the_default_plan_setting(store, memory_engine, user_scope, alice, add) -> None:
    add(user_scope, alice, "bo", seed=1)
    with memory_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, Session(bind=conn) as s:
        with pytest.raises(psycopg.Error):  # LIMIT -1: Postgres refuses the statement itself
            search.nearest(s, [user_scope.id], unit(1)[None, :], ENCODER, -1)
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "auto"
        [hit] = search.nearest(s, [user_scope.id], unit(1)[None, :], ENCODER, 1)
        assert hit.concept.name == "bo"
