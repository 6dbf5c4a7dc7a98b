"""Faults where they meet ordinary work, at the DEFAULT settings (issue 22), with real processes: a
private redis-server (no persistence, so a restart loses everything in it), private embedded
Postgres servers stopped with pg_ctl, `rapbot worker` subprocesses, SIGKILL and SIGSTOP.

- an album is stored whole or not at all when Postgres stops in the middle of it, and a retry
  completes one that was stored in part;
- a Redis restart with tasks in flight leaves every worker role serving, and the first request
  after it is answered;
- the limits compose: at the defaults a poison request reaches the dead letters (in Postgres)
  before its client gives up (the derivation, and one run of real workers at the defaults: a
  request that kills its worker on each of its 3 deliveries, about 4.5 minutes);
- a killed worker is reported within seconds, not after the client timeout;
- the first request after a Postgres restart is answered; every write, store queue included, is
  checked against its deadline before it commits; Postgres' lock and idle-in-transaction timeouts
  come from the settings;
- the docs' defaults are the settings' defaults; metrics listen on 127.0.0.1; /healthz speaks in
  words; no rapbot-clipcfg-* folder is left in the temp dir.

`pytest -m faults` runs these (and tests/worker/test_faults.py, test_postgres_restart.py) alone."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pgserver
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from test_celery import ROOT
from test_faults import (  # noqa: F401  (fixtures)
    PrivateRedis,
    Workers,
    client_for,
    deliveries,
    private_redis,
    role_pid,
    until,
    workers_for,
)
from test_postgres_restart import GROUP, postgres

from memory.database import embedded_pgdata
from memory.errors import StoreUnavailable
from memory.settings import MemorySettings
from memory.store import MemoryStore
from memory.types import Actor, NewView
from model.batching import DeadlinePassed, request_deadline
from worker.domain.failures import DATABASE_DOWN_MESSAGE
from worker.domain.pending import InMemoryPendingStore
from worker.domain.runtime import Runtime
from worker.errors import BACKEND_DOWN, DEAD_LETTER, RapError
from worker.schemas import Requester
from worker.settings import MIN_DEAD_LETTER_SLACK_S, WorkerSettings
from worker.transport.celery_app import make_celery
from worker.transport.local import LocalClient
from worker.transport.presence import STALE_S, presence_key
from worker.transport.wire import done_key

pytestmark = pytest.mark.faults


def jpeg_of(array: Any) -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


ALICE = Requester(platform="console", user_id="alice")


def defaults_on(redis: PrivateRedis, **overrides: Any) -> WorkerSettings:
    """The product's defaults (queues, limits, timeouts), on this test's private Redis."""
    return WorkerSettings(redis_url=redis.url, reply_max_new_tokens=16, **overrides)


@pytest.fixture
def album() -> list[bytes]:
    """Four different photos (a remember of all four is one concept with four views)."""
    from skimage import data

    arrays = [data.chelsea(), data.astronaut(), data.coffee(), np.ascontiguousarray(data.coffee()[:, ::-1])]
    return [jpeg_of(array) for array in arrays]


@pytest.fixture
def own_postgres() -> Iterator[Path]:
    """A private embedded Postgres this test may stop and start (pg_ctl)."""
    folder = Path(tempfile.mkdtemp(prefix="rbf-", dir="/tmp"))  # short: the socket path has a limit
    try:
        yield folder
    finally:
        pgserver.get_server(embedded_pgdata(folder)).cleanup()
        shutil.rmtree(folder, ignore_errors=True)


# ---- 3. timeouts that compose ----------------------------------------------------------------


def test_the_default_limits_compose_so_a_poison_request_is_dead_lettered_before_its_client_gives_up() -> None:
    settings = WorkerSettings()
    soft, hard, visibility = settings.task_soft_time_limit_s, settings.task_time_limit_s, settings.visibility_timeout_s
    assert (soft, hard, visibility, settings.client_timeout_s, settings.max_deliveries) == (60, 70, 80, 300.0, 3)
    assert soft < hard < visibility  # a slow request ends before it could be handed out again
    # Delivery n+1 comes at most visibility + one restore scan after delivery n; the delivery after
    # the last allowed one writes the dead letter and replies, while the client still waits.
    dead_letter_reply_at = settings.max_deliveries * (visibility + settings.restore_interval_s)
    assert dead_letter_reply_at + MIN_DEAD_LETTER_SLACK_S <= settings.client_timeout_s
    # The worker uses the very same numbers: Celery's limits, kombu's redelivery, the client's expiry.
    conf = make_celery(defaults_on_url("redis://127.0.0.1:1/0")).conf
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (soft, hard)
    assert conf.broker_transport_options["visibility_timeout"] == visibility
    assert conf.broker_transport_options["unacked_restore_interval"] == settings.restore_interval_s
    # The same derivation from any soft limit; a hand-set client timeout that breaks it is refused.
    for any_soft in (1, 5, 30, 300, 3600):
        derived = WorkerSettings(task_soft_time_limit_s=any_soft)
        assert derived.task_soft_time_limit_s < derived.task_time_limit_s < derived.visibility_timeout_s
        reply_at = derived.max_deliveries * (derived.visibility_timeout_s + derived.restore_interval_s)
        assert reply_at + MIN_DEAD_LETTER_SLACK_S <= derived.client_timeout_s
    with pytest.raises(ValueError, match="RAPBOT_CLIENT_TIMEOUT_S >= RAPBOT_MAX_DELIVERIES"):
        WorkerSettings(client_timeout_s=200)  # the old default: the dead letter came after 300 s


def defaults_on_url(url: str) -> WorkerSettings:
    return WorkerSettings(redis_url=url)


async def test_a_poison_request_reaches_the_dead_letters_in_postgres_before_its_client_gives_up(
    private_redis: PrivateRedis,  # noqa: F811
    workers_for: Any,  # noqa: F811
    client_for: Any,  # noqa: F811
    store: MemoryStore,
    database_url: str,
    album: list[bytes],
) -> None:
    # At the defaults, unscaled (soft 60, hard 70, visibility 80, 3 deliveries, client 300 s; about
    # 4.5 minutes): the poison kills the GPU worker (as the OOM killer would) on every delivery; the
    # `--role all` parent starts it again, and the request comes back to it after the visibility
    # timeout; the delivery after the last allowed one writes the dead letter and replies.
    settings = defaults_on(private_redis)
    assert (settings.max_deliveries, settings.visibility_timeout_s, settings.client_timeout_s) == (3, 80, 300)
    workers, client, redis = workers_for(settings), client_for(settings), private_redis.client()
    request_id = f"poison-{uuid.uuid4().hex}"
    await workers.start_and_wait()
    parent = workers.running[-1]
    sent = time.monotonic()
    request = asyncio.create_task(client.remember(ALICE, "doom", "it kills", album * 2, request_id=request_id))
    for delivery in range(1, settings.max_deliveries + 1):
        await until(lambda n=delivery: deliveries(redis, request_id) == n, f"delivery {delivery}", workers.log)
        gpu = role_pid(parent, "gpu")
        assert gpu is not None
        os.kill(gpu, signal.SIGKILL)  # it stops its worker each time it runs
    with pytest.raises(RapError) as err:
        await asyncio.wait_for(request, timeout=settings.client_timeout_s + 30)
    assert err.value.code == DEAD_LETTER and "could not be processed" in err.value.message
    assert time.monotonic() - sent < settings.client_timeout_s  # the clear reply, not the client's timeout
    assert store.list_concepts(store.scope("console", "user", "alice").id, Actor("alice")).total == 0
    private_redis.stop()  # the record lives in Postgres: a Redis restart keeps it
    private_redis.start()
    env = dict(os.environ, RAPBOT_REDIS_URL=private_redis.url, RAPBOT_DATABASE_URL=database_url, PYTHONPATH=str(ROOT))
    listed = subprocess.run(
        [sys.executable, "-m", "rapbot", "deadletters", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert request_id in listed.stdout and "remember" in listed.stdout and "1 dead letter" in listed.stdout
    assert [letter.request_id for letter in store.list_dead_letters()] == [request_id]


# ---- 2 and 5. workers that outlive their broker; the first request after a restart -----------


async def test_a_redis_restart_with_tasks_in_flight_leaves_every_role_serving(
    private_redis: PrivateRedis,  # noqa: F811
    workers_for: Any,  # noqa: F811
    client_for: Any,  # noqa: F811
    photos: dict[str, bytes],
    album: list[bytes],
) -> None:
    settings = defaults_on(private_redis)
    workers, client, redis = workers_for(settings), client_for(settings), private_redis.client()
    await workers.start_and_wait()
    parent = workers.running[-1]
    await asyncio.wait_for(client.answer(ALICE, photos["cat"], "what is this?"), timeout=240)  # networks loaded
    gpu, store_role = role_pid(parent, "gpu"), role_pid(parent, "store")
    ids = [f"flight-{n}-{uuid.uuid4().hex}" for n in range(6)]
    in_flight = [
        asyncio.create_task(
            client.remember(Requester(platform="console", user_id=f"u{n}"), "desk", "a desk", album * 2, request_id=rid)
        )
        for n, rid in enumerate(ids)
    ]
    await until(lambda: any(deliveries(redis, rid) for rid in ids), "a request in flight", workers.log)
    running = [rid for rid in ids if deliveries(redis, rid) and not redis.exists(done_key(rid))]
    assert running, "every request finished before Redis stopped: nothing was in flight"
    private_redis.stop()
    # Down for a while, as a real restart is: the tasks in flight finish meanwhile and cannot be
    # acknowledged, and the consumer's reconnects fail.
    await asyncio.sleep(5)
    private_redis.start()  # same port, empty: queues, replies and heartbeats are gone
    # Every request in flight ends with a reply or a clear error, none hangs past the client timeout.
    for outcome in await asyncio.gather(*in_flight, return_exceptions=True):
        assert not isinstance(outcome, BaseException) or isinstance(outcome, RapError), repr(outcome)
    # The first request after the restart is answered, store queue and GPU queue alike: no retry here.
    assert (await asyncio.wait_for(client.list_concepts(ALICE), timeout=120)).total == 0
    assert (await asyncio.wait_for(client.answer(ALICE, None, "hello?"), timeout=120)).text is not None
    # ... by the very same processes: no role stopped and had to be started again.
    assert parent.poll() is None
    assert (role_pid(parent, "gpu"), role_pid(parent, "store")) == (gpu, store_role), workers.log.read_text()[-3000:]
    assert "worker stopped" not in workers.log.read_text()


def test_a_worker_that_stops_on_its_own_exits_non_zero_and_the_parent_starts_it_again(
    private_redis: PrivateRedis,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    settings = defaults_on(private_redis)
    workers = Workers(settings, database_url, tmp_path / "workers.log")
    try:
        parent = workers.start()
        deadline = time.monotonic() + 120
        while (store_role := role_pid(parent, "store")) is None:
            assert time.monotonic() < deadline, workers.log.read_text()[-3000:]
            time.sleep(0.2)
        os.kill(store_role, signal.SIGKILL)  # any death the parent did not ask for
        while (again := role_pid(parent, "store")) in (None, store_role):
            assert time.monotonic() < deadline, workers.log.read_text()[-3000:]
            time.sleep(0.2)
        assert "the store worker stopped (exit status -9)" in workers.log.read_text()
        os.kill(parent.pid, signal.SIGTERM)  # asked to stop: both roles stop, and the parent exits 0
        assert parent.wait(timeout=60) == 0
        assert role_pid(parent, "store") is None and again is not None
    finally:
        workers.kill_all()


# ---- 4. fast truth about dead workers ----------------------------------------------------------


async def test_a_killed_worker_is_reported_within_seconds(
    private_redis: PrivateRedis,  # noqa: F811
    workers_for: Any,  # noqa: F811
    client_for: Any,  # noqa: F811
    photos: dict[str, bytes],
    album: list[bytes],
) -> None:
    settings = defaults_on(private_redis)
    workers, client, redis = workers_for(settings), client_for(settings), private_redis.client()
    await workers.start_and_wait()
    await asyncio.wait_for(client.answer(ALICE, photos["cat"], "what is this?"), timeout=240)  # networks loaded
    request_id = f"killed-{uuid.uuid4().hex}"
    request = asyncio.create_task(client.remember(ALICE, "desk", "my desk", album * 2, request_id=request_id))
    await until(lambda: deliveries(redis, request_id) == 1, "the delivery", workers.log)
    workers.kill_all()  # the machine is gone: no worker is left
    killed = time.monotonic()
    with pytest.raises(RapError) as err:
        await asyncio.wait_for(request, timeout=60)  # the client timeout is 300 s
    assert time.monotonic() - killed < STALE_S + 5
    assert err.value.code == BACKEND_DOWN
    assert "worker stopped" in err.value.message and "could not confirm whether <desk> was saved" in err.value.message


async def test_a_stopped_store_worker_is_reported_and_its_forget_never_happens_later(
    private_redis: PrivateRedis,  # noqa: F811
    workers_for: Any,  # noqa: F811
    client_for: Any,  # noqa: F811
    store: MemoryStore,
) -> None:
    settings = defaults_on(private_redis)
    workers, client = workers_for(settings), client_for(settings)
    scope = store.scope("console", "user", "alice")
    store.add_concept(scope.id, Actor("alice"), "desk", "my desk", "table", _view())
    await workers.start_and_wait()
    assert (await asyncio.wait_for(client.list_concepts(ALICE), timeout=120)).total == 1  # it serves
    parent = workers.running[-1]
    os.killpg(parent.pid, signal.SIGSTOP)  # every process of the worker stops (a frozen machine)
    try:
        stopped = time.monotonic()
        with pytest.raises(RapError) as err:
            await asyncio.wait_for(client.forget(ALICE, "desk"), timeout=60)
        assert time.monotonic() - stopped < STALE_S + 5
        assert err.value.code == BACKEND_DOWN
    finally:
        os.killpg(parent.pid, signal.SIGCONT)
    await asyncio.sleep(5)  # the worker wakes, takes the request, finds it answered: it never runs
    assert (await asyncio.wait_for(client.list_concepts(ALICE), timeout=60)).total == 1
    assert [c.name for c in store.list_concepts(scope.id, Actor("alice")).items] == ["desk"]


# ---- 1. all or nothing per request -------------------------------------------------------------


async def test_an_album_is_stored_whole_or_not_at_all_when_postgres_stops_in_the_middle(
    own_postgres: Path, tiny_models: Any, album: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from memory.repositories import views

    store = MemoryStore.open(MemorySettings(data_dir=own_postgres))
    client = LocalClient.for_store(store, tiny_models, WorkerSettings(reply_max_new_tokens=16))
    insert, calls = views.insert, []

    def insert_then_fail(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:  # the third photo: Postgres goes away mid-album
            postgres(own_postgres, "stop")
        return insert(*args, **kwargs)

    try:
        await client.list_concepts(ALICE)  # the user's memory exists
        monkeypatch.setattr(views, "insert", insert_then_fail)
        with pytest.raises(RapError) as down:
            await client.remember(ALICE, "desk", "my desk", album, request_id="album-1")
        assert down.value.code == BACKEND_DOWN and str(down.value) == DATABASE_DOWN_MESSAGE  # "Nothing was changed"
        monkeypatch.setattr(views, "insert", insert)
        postgres(own_postgres, "restart")  # (restart: with the options it was started with)
        assert (await client.list_concepts(ALICE)).total == 0  # true: nothing was changed
        again = await client.remember(ALICE, "desk", "my desk", album, request_id="album-1")  # the user retries
        assert again.status == "stored" and again.concept is not None and again.concept.view_count == 4

        # An album stored photo by photo (before this was one transaction) and cut short: the retry
        # with the same photos completes it.
        engine = create_engine(str(store.engine.url.render_as_string(hide_password=False)))
        with engine.begin() as conn:
            conn.execute(
                text(
                    "DELETE FROM views WHERE id IN "
                    "(SELECT id FROM views WHERE encoder NOT LIKE 'face:%' ORDER BY id DESC LIMIT 2)"
                )
            )
        engine.dispose()
        assert (await client.show(ALICE, "desk")).concept.view_count == 2
        completed = await client.remember(ALICE, "desk", "my desk", album, request_id="album-2")
        assert completed.status == "stored" and completed.views_added == 2
        assert (await client.show(ALICE, "desk")).concept.view_count == 4
        with pytest.raises(RapError) as saved:  # and once whole, a retry says so
            await client.remember(ALICE, "desk", "my desk", album, request_id="album-3")
        assert saved.value.code == "already_saved"
    finally:
        await client.close()
        store.close()


async def test_the_first_request_after_a_postgres_restart_is_answered(own_postgres: Path) -> None:
    store = MemoryStore.open(MemorySettings(data_dir=own_postgres))
    settings = WorkerSettings()
    client = LocalClient(Runtime(store, settings, InMemoryPendingStore(settings.pending_ttl_s), serve_models=False))
    try:
        assert (await client.update_settings(GROUP, similarity_threshold=0.6)).similarity_threshold == 0.6
        postgres(own_postgres, "restart")  # every pooled connection dies with it; no request in between
        assert (await client.get_settings(GROUP)).similarity_threshold == 0.6
        assert (await client.update_settings(GROUP, locked=True)).locked
    finally:
        await client.close()


# ---- 6. deadlines on every write; Postgres' own limits -----------------------------------------


def _hold_scope_lock(url: str, scope_id: int, seconds: float, locked: threading.Event) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT id FROM scopes WHERE id = :id FOR UPDATE"), {"id": scope_id})
            locked.set()
            time.sleep(seconds)
    finally:
        engine.dispose()


def test_a_store_write_past_its_deadline_is_not_committed_however_late_it_wakes(
    store: MemoryStore, database_url: str, album: list[bytes]
) -> None:
    Runtime(store, WorkerSettings(), InMemoryPendingStore(60), serve_models=False)  # sets the deadline check
    scope = store.scope("console", "user", "alice")
    store.add_concept(scope.id, Actor("alice"), "desk", "my desk", "table", _view())
    locked = threading.Event()
    holder = threading.Thread(target=_hold_scope_lock, args=(database_url, scope.id, 2.0, locked))
    holder.start()
    locked.wait(10)
    try:
        with request_deadline(1.0), pytest.raises(DeadlinePassed):
            store.forget(scope.id, Actor("alice"), "desk")  # waits for the lock past its deadline
    finally:
        holder.join()
    assert [c.name for c in store.list_concepts(scope.id, Actor("alice")).items] == ["desk"]


def test_postgres_lock_and_idle_timeouts_come_from_the_settings(store: MemoryStore, database_url: str) -> None:
    scope = store.scope("console", "user", "alice")
    store.add_concept(scope.id, Actor("alice"), "desk", "my desk", "table", _view())
    impatient = MemoryStore(database_url, MemorySettings(lock_timeout_s=0.5, idle_in_transaction_timeout_s=1.0))
    locked = threading.Event()
    holder = threading.Thread(target=_hold_scope_lock, args=(database_url, scope.id, 3.0, locked))
    holder.start()
    locked.wait(10)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            impatient.forget(scope.id, Actor("alice"), "desk")
        assert time.monotonic() - started < 2.5  # the lock timeout (0.5 s), not the holder's 3 s
    finally:
        holder.join()
    # A transaction left idle (its process stopped) is ended by Postgres, and its locks freed.
    with pytest.raises(StoreUnavailable), impatient.unit_of_work():
        impatient.forget(scope.id, Actor("alice"), "desk")
        time.sleep(2.0)
    assert [c.name for c in store.list_concepts(scope.id, Actor("alice")).items] == ["desk"]
    store.forget(scope.id, Actor("alice"), "desk")  # the lock was freed
    impatient.close()


def test_postgres_statement_and_connect_timeouts_come_from_the_settings(database_url: str) -> None:
    # Any statement of the store's sessions is cut at the statement timeout.
    hasty = MemoryStore(database_url, MemorySettings(statement_timeout_s=0.5))
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"), hasty.engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_sleep(3)")
        assert time.monotonic() - started < 2.5
    finally:
        hasty.close()
    # A server that takes the connection and never answers (a frozen Postgres, a black-holed
    # address): the store gives up after the connect timeout and says the database is unreachable.
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)  # the handshake completes, nothing ever answers
        port = mute.getsockname()[1]
        silent = MemoryStore(
            f"postgresql+psycopg://rapbot@127.0.0.1:{port}/rapbot", MemorySettings(connect_timeout_s=1.0)
        )
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                silent.ping()
            assert time.monotonic() - started < 5  # 1 s, not the OS's minutes of waiting
        finally:
            silent.close()


def _view() -> NewView:
    embedding = np.ones(8, dtype=np.float32) / np.sqrt(np.float32(8))
    return NewView(image_jpeg=jpeg_of(np.zeros((8, 8, 3), dtype=np.uint8)), embedding=embedding, encoder="test:enc")


# ---- 7. docs, metrics address, health in words, temp folders -----------------------------------


def _documented_defaults() -> dict[str, str]:
    """`SETTING` -> its default as docs/worker.md's settings table gives it."""
    doc = (ROOT / "docs" / "worker.md").read_text()
    table = doc[doc.index("### Settings of worker/") :]
    found: dict[str, str] = {}
    for line in table.splitlines()[3:]:
        if not line.startswith("|"):
            break
        names, defaults = (cell.strip() for cell in line.strip("|").split("|")[:2])
        name_list = re.findall(r"`([A-Z0-9_]+)`", names)
        default_list = [d.strip() for d in defaults.split(" / ")] if len(name_list) > 1 else [defaults]
        assert len(default_list) == len(name_list), line
        found.update(zip(name_list, default_list, strict=True))
    return found


def _as_value(documented: str) -> Any:
    plain = documented.split(" (")[0].strip().strip("`")
    if plain == "unset":
        return None
    if plain in ("true", "false"):
        return plain == "true"
    number = re.fullmatch(r"(-?[0-9]+(?:\.[0-9]+)?)\s*(MB|MP|s)?", plain)
    if number is None:
        return plain
    value = float(number.group(1))
    return value * {"MB": 1024 * 1024, "MP": 1_000_000}.get(number.group(2) or "", 1)


def test_the_docs_give_the_settings_own_defaults() -> None:
    documented = _documented_defaults()
    settings = WorkerSettings()
    fields = {name.upper(): name for name in WorkerSettings.model_fields}
    assert set(documented) == set(fields), "docs/worker.md's settings table and WorkerSettings differ"
    for name, shown in documented.items():
        actual = getattr(settings, fields[name])
        assert _as_value(shown) == actual, f"docs/worker.md says {name} = {shown}, the settings say {actual}"


def test_metrics_listen_on_this_machine_only_unless_configured() -> None:
    from worker.ops import http

    assert WorkerSettings().metrics_host == "127.0.0.1"
    server = http.start_metrics_server(0)
    assert server is not None
    try:
        assert server.server.server_address[0] == "127.0.0.1"
    finally:
        http.stop_metrics_servers()


def test_health_speaks_in_words_never_in_driver_codes() -> None:
    from sqlalchemy.exc import OperationalError

    from worker.ops.health import check_store

    class Down:
        def ping(self) -> None:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))

    said = check_store(Down())  # type: ignore[arg-type]
    assert said is not None and "e3q8" not in said
    assert said == "unreachable: connection refused (OperationalError)"


def test_building_the_tiny_networks_leaves_no_temp_folder(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    subprocess.run(
        [sys.executable, "-c", "from model.tiny import register_tiny_clip_configs as r; r()"],
        env=env,
        check=True,
        timeout=300,
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("rapbot-clipcfg-")] == []


def test_presence_of_a_queue_is_watched_with_a_short_heartbeat() -> None:
    from worker.transport.presence import BEAT_S

    assert BEAT_S * 3 <= STALE_S <= 10  # a killed worker looks gone within seconds, a live one never
    assert presence_key("rapbot.gpu") == "rapbot:workers:rapbot.gpu"
