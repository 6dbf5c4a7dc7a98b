"""Migrations: upgrade from empty, downgrade to nothing, models and migrations agree, the CLI, and
how the store opens (URL, embedded, unreachable)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pgserver
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from memory_testkit import make_view
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from memory.database import embedded_pgdata
from memory.errors import DuplicateName, StoreUnavailable
from memory.migrate import current, downgrade, upgrade
from memory.models import Base
from memory.settings import MemorySettings
from memory.store import MemoryStore
from memory.types import Actor
from rapbot.cli import app

TABLES = {"scopes", "concepts", "views", "audit_events", "dead_letters"}
TABLES |= {"web_sessions", "members_seen"}  # 0004
TABLES |= {"photo_index_settings", "indexed_photos", "indexed_embeddings", "indexed_recognitions"}  # 0007
HEAD = "0008"


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _has_vector_extension(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")).scalar_one() == 1
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_drops_everything(empty_database_url: str) -> None:
    assert current(empty_database_url) is None
    upgrade(empty_database_url)
    assert current(empty_database_url) == HEAD
    assert _tables(empty_database_url) == TABLES
    assert _has_vector_extension(empty_database_url)

    downgrade(empty_database_url, "base")
    assert current(empty_database_url) is None
    assert _tables(empty_database_url) == set()
    assert not _has_vector_extension(empty_database_url)

    upgrade(empty_database_url)  # and back up again, cleanly
    assert _tables(empty_database_url) == TABLES


def test_autogenerate_against_the_models_is_empty(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_cli_upgrade_current_downgrade(empty_database_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["db", "current", "--url", empty_database_url])
    assert result.exit_code == 0 and "base" in result.output
    result = runner.invoke(app, ["db", "upgrade", "--url", empty_database_url])
    assert result.exit_code == 0, result.output
    assert HEAD in runner.invoke(app, ["db", "current", "--url", empty_database_url]).output
    result = runner.invoke(app, ["db", "downgrade", "base", "--url", empty_database_url])
    assert result.exit_code == 0 and _tables(empty_database_url) == set()


def test_cli_unreachable_database_is_one_clear_line_without_password() -> None:
    result = CliRunner().invoke(app, ["db", "current", "--url", "postgresql://bob:hunter2@127.0.0.1:1/nope"])
    assert result.exit_code == 1
    assert "cannot be reached" in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_open_with_url_migrates(empty_database_url: str) -> None:
    with MemoryStore.open(MemorySettings(database_url=empty_database_url)) as store:
        scope = store.scope("console", "user", "me")
        assert store.list_concepts(scope.id, Actor("me")).total == 0
    assert current(empty_database_url) == HEAD


def test_open_unreachable_raises_store_unavailable_without_secrets() -> None:
    settings = MemorySettings(database_url="postgresql://bob:hunter2@127.0.0.1:1/nope")
    with pytest.raises(StoreUnavailable) as caught:
        MemoryStore.open(settings)
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_store_unavailable_when_database_goes_away() -> None:
    store = MemoryStore("postgresql://bob:hunter2@127.0.0.1:1/nope")
    with pytest.raises(StoreUnavailable) as caught:
        store.scope("console", "user", "me")
    assert "hunter2" not in str(caught.value)


def test_embedded_database_starts_migrates_and_keeps_data() -> None:
    # Not tmp_path: parallel pytest runs of the same user prune each other's old basetemp dirs.
    data_dir = Path(tempfile.mkdtemp(prefix="rbemb-", dir="/tmp"))
    settings = MemorySettings(data_dir=data_dir)
    try:
        with MemoryStore.open(settings) as store:
            scope = store.scope("console", "user", "me")
            store.update_settings(scope.id, Actor("me"), auto_caption=True)
        assert (embedded_pgdata(data_dir) / "PG_VERSION").exists()
        with MemoryStore.open(settings) as store:  # a second open joins the running server, data kept
            assert store.scope("console", "user", "me").settings.auto_caption
    finally:
        pgserver.get_server(embedded_pgdata(data_dir)).cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_long_data_dir_falls_back_to_a_short_socket_dir(tmp_path: Path) -> None:
    long_dir = tmp_path / ("x" * 120)
    pgdata = embedded_pgdata(long_dir)
    assert len(str(pgdata)) < 80
    assert embedded_pgdata(long_dir) == pgdata  # stable: the same data next time
    assert embedded_pgdata(Path("/tmp/rb")) == Path("/tmp/rb/pg")


def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_0002_backfills_skeletons_and_audit_subjects_and_scrubs_missed_erasures(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url, "0001")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO scopes (id, platform, kind, external_id) VALUES (1, 'telegram', 'group', 'g')")
            )
            for concept_id, name, owner in ((1, "bo", "alice"), (2, "b\u043e", "bob"), (3, "rex", "alice")):
                conn.execute(
                    text(
                        "INSERT INTO concepts (id, scope_id, name, normalised_name, category, created_by)"
                        " VALUES (:id, 1, :name, :key, 'dog', :owner)"
                    ),
                    {"id": concept_id, "name": name, "key": name.casefold(), "owner": owner},
                )
            events: list[tuple[str | None, str, int | None, str]] = [
                ("alice", "add", 1, '{"name": "bo"}'),
                ("mod", "edit", 2, '{"name": "b\u043e"}'),
                ("carol", "add", 7, '{"name": "cup"}'),  # concept 7: forgotten by a moderator
                ("mod", "forget", 7, '{"name": "cup"}'),
                (None, "add", 9, "{}"),  # concept 9: its creator was erased after a purge ...
                ("mod", "rename", 9, '{"old": "plant", "new": "big plant"}'),  # ... and this was missed
                ("mod", "settings", None, '{"locked": true}'),
            ]
            for actor, action, about, details in events:
                conn.execute(
                    text(
                        "INSERT INTO audit_events (scope_id, actor, action, concept_id, details)"
                        " VALUES (1, :actor, :action, :concept, CAST(:details AS jsonb))"
                    ),
                    {"actor": actor, "action": action, "concept": about, "details": details},
                )
        upgrade(url)
        assert current(url) == HEAD
        with engine.connect() as conn:
            skeletons: dict[int, str] = dict(
                conn.execute(text("SELECT id, name_skeleton FROM concepts")).tuples().all()
            )
            audit = conn.execute(text("SELECT action, subject, details FROM audit_events ORDER BY id")).all()
        # the two lookalikes that were stored before both stay; the later one is marked apart
        assert skeletons == {1: "bo", 2: "bo\x1f2", 3: "rex"}
        assert [(a.action, a.subject) for a in audit] == [
            ("add", "alice"),
            ("edit", "bob"),
            ("add", "carol"),
            ("forget", "carol"),
            ("add", None),
            ("rename", None),
            ("settings", None),
        ]
        assert audit[5].details == {} and audit[3].details == {"name": "cup"} and audit[6].details == {"locked": True}

        store = MemoryStore(url)
        try:
            scope = store.scope("telegram", "group", "g")
            with pytest.raises(DuplicateName, match="looks the same as <bo>"):
                store.add_concept(scope.id, Actor("mod", moderator=True), "B0", "", "dog", make_view())
            store.rename(scope.id, Actor("mod", moderator=True), "b\u043e", "bob's")  # a legacy one renames freely
        finally:
            store.close()
    finally:
        engine.dispose()

    downgrade(url, "0001")
    assert current(url) == "0001"
    assert "name_skeleton" not in _columns(url, "concepts") and "subject" not in _columns(url, "audit_events")
    upgrade(url)  # and up again, with the rows as they are now
    assert "name_skeleton" in _columns(url, "concepts")
