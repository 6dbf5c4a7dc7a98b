"""/metrics and /healthz (worker/ops/metrics.py) over real HTTP, with real checks: the real Redis
(127.0.0.1:6379, db 11), a real store, real tiny networks, a real Celery queue; and the JSON logs."""

from __future__ import annotations

import io
import json
import logging
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from memory.store import MemoryStore
from model.batching import BatcherStats
from model.engine import ServingEngine
from worker.domain.timing import RequestTiming
from worker.errors import RapError
from worker.ops import health, http, logs, metered, metrics, queues
from worker.schemas import Requester
from worker.settings import WorkerSettings
from worker.transport.celery_app import PIPELINE_TASK, STORE_TASK, make_celery
from worker.transport.local import LocalClient

REDIS_URL = "redis://127.0.0.1:6379/11"


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    status, text = get(port, "/metrics")
    assert status == 200
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def server_for() -> Iterator[Any]:
    """Start a metrics server on a free port with the given health; stopped after the test."""
    started: list[http.MetricsServer] = []

    def start(health: health.Health | None) -> int:
        server = http.start_metrics_server(0, health, addr="127.0.0.1")
        assert server is not None
        started.append(server)
        return server.port

    yield start
    for server in started:
        server.close()
    metrics.watch_engine(None)
    queues.watch_queues(None)


@pytest.fixture(scope="module")
def loaded_engine(tiny_models: Any) -> Iterator[ServingEngine]:
    engine = ServingEngine(tiny_models)
    engine.warm_up()
    yield engine
    engine.close()


def test_requests_and_stages_are_counted(server_for: Any) -> None:
    port = server_for(None)
    before = scrape(port)
    timing = RequestTiming(
        stages={"detect": 0.04, "embed": 0.02, "search": 0.003, "generate": 0.9}, generate_batch=3, generated_tokens=12
    )
    metrics.observe_request("answer", "ok", 1.2, timing, request_id="r-1")
    metrics.observe_request("answer", "timeout", 80.0, None, request_id="r-2")
    metrics.observe_request("show", "unknown_concept", 0.004)
    metrics.observe_request("no-such-method", "Weird Code!", 0.1)  # labels never take arbitrary text
    after = scrape(port)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("rapbot_requests_total", method="answer", outcome="ok") == 1
    assert delta("rapbot_requests_total", method="answer", outcome="timeout") == 1
    assert delta("rapbot_requests_total", method="show", outcome="unknown_concept") == 1
    assert delta("rapbot_requests_total", method="unknown", outcome="other") == 1
    assert delta("rapbot_request_duration_seconds_count", method="answer") == 2
    assert delta("rapbot_request_duration_seconds_sum", method="answer") == pytest.approx(81.2)
    # 1.2 s falls in the 2.5 s bucket, 80 s does not.
    assert delta("rapbot_request_duration_seconds_bucket", method="answer", le="2.5") == 1
    assert delta("rapbot_request_duration_seconds_bucket", method="answer", le="+Inf") == 2
    for stage, seconds in timing.stages.items():
        assert delta("rapbot_stage_duration_seconds_count", method="answer", stage=stage) == 1
        assert delta("rapbot_stage_duration_seconds_sum", method="answer", stage=stage) == pytest.approx(seconds)
    assert delta("rapbot_generated_tokens_total", method="answer") == 12


def test_batch_sizes_come_from_the_engine_at_each_scrape(server_for: Any) -> None:
    class Part:
        def __init__(self) -> None:
            self.batcher = type("Batcher", (), {"stats": BatcherStats()})()

    class Engine:
        generator, detector, encoder = Part(), Part(), Part()

    engine = Engine()
    port = server_for(None)
    metrics.watch_engine(lambda: engine)  # type: ignore[arg-type, return-value]
    before = scrape(port)
    engine.generator.batcher.stats.sizes.update({1: 2, 4: 3})
    engine.detector.batcher.stats.sizes.update({2: 1})
    first = scrape(port)
    engine.generator.batcher.stats.sizes[4] = 5  # two more batches of 4 since the last scrape
    second = scrape(port)

    def delta(after: Any, name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(first, "rapbot_batch_size_count", network="generate") == 5
    assert delta(first, "rapbot_batch_size_sum", network="generate") == 2 * 1 + 3 * 4
    assert delta(first, "rapbot_batch_size_bucket", network="generate", le="1.0") == 2
    assert delta(first, "rapbot_batch_size_count", network="detect") == 1
    assert delta(second, "rapbot_batch_size_count", network="generate") == 7  # counted once each
    assert delta(second, "rapbot_batch_size_sum", network="generate") == 2 * 1 + 5 * 4
    metrics.observe_model_load(12.5)
    assert value(scrape(port), "rapbot_model_load_seconds", network="all") == 12.5


def test_queue_depth_and_dead_letters_from_redis(server_for: Any, redis: Redis) -> None:
    run = uuid.uuid4().hex[:8]
    settings = WorkerSettings(redis_url=REDIS_URL, pipeline_queue=f"test-{run}-gpu", store_queue=f"test-{run}-store")
    dead_key = f"test-{run}-deadletters"
    app = make_celery(settings)
    try:
        # Real Celery messages on queues no worker serves: kombu keeps each as a Redis list.
        for n in range(3):
            app.send_task(PIPELINE_TASK, args=["answer", {}, f"r{n}"])
        app.send_task(STORE_TASK, args=["list_concepts", {}, "s0"])
        app.send_task(PIPELINE_TASK, args=["answer", {}, "urgent"], priority=5)  # a priority list of its own
        redis.rpush(dead_key, json.dumps({"request_id": "x"}), json.dumps({"request_id": "y"}))
        port = server_for(None)
        queues.watch_queues(health.health_redis(REDIS_URL), [settings.pipeline_queue, settings.store_queue], dead_key)
        samples = scrape(port)
        assert value(samples, "rapbot_queue_depth", queue=settings.pipeline_queue) == 4
        assert value(samples, "rapbot_queue_depth", queue=settings.store_queue) == 1
        assert value(samples, "rapbot_dead_letters") == 2
        # Redis gone: the scrape still answers, without these gauges.
        queues.watch_queues(health.health_redis(f"redis://127.0.0.1:{free_port()}/11"), [settings.pipeline_queue])
        samples = scrape(port)
        assert ("rapbot_dead_letters", ()) not in samples
        assert value(samples, "rapbot_requests_total", method="answer", outcome="ok") >= 0
    finally:
        app.close()
        keys = [key for queue in (settings.pipeline_queue, settings.store_queue) for key in queues.queue_keys(queue)]
        redis.delete(dead_key, *keys, *redis.keys(f"_kombu.binding.test-{run}-*"))


def test_healthz_ok_with_every_part_fine(
    server_for: Any, redis: Redis, store: MemoryStore, loaded_engine: ServingEngine
) -> None:
    port = server_for(health.health_checks(redis=redis, store=store, engine=loaded_engine))
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/nowhere")[0] == 404


def test_healthz_names_redis_when_unreachable_and_never_its_url(
    server_for: Any, store: MemoryStore, loaded_engine: ServingEngine
) -> None:
    closed = free_port()
    down = health.health_redis(f"redis://:s3cret-pass@127.0.0.1:{closed}/11")
    port = server_for(health.health_checks(redis=down, store=store, engine=loaded_engine))
    status, body = get(port, "/healthz")
    assert status == 503
    assert body.startswith("redis: unreachable")
    assert "postgres" not in body and "networks" not in body  # only the failing part is named
    for secret in ("s3cret", "redis://", "127.0.0.1", str(closed)):
        assert secret not in body


def test_healthz_names_postgres_when_unreachable_and_never_its_password(server_for: Any, redis: Redis) -> None:
    closed = free_port()
    down = MemoryStore(f"postgresql+psycopg://rapbot:hunter2@127.0.0.1:{closed}/rapbot")
    try:
        port = server_for(health.health_checks(redis=redis, store=down))
        status, body = get(port, "/healthz")
    finally:
        down.close()
    assert status == 503
    assert body.startswith("postgres: unreachable")
    for secret in ("hunter2", "postgresql", str(closed)):
        assert secret not in body


def test_healthz_names_networks_until_they_are_loaded(server_for: Any, redis: Redis, store: MemoryStore) -> None:
    from model.profiles import load_bundle

    engine = ServingEngine(load_bundle("tiny"))  # nothing loaded yet: a GPU worker still warming up
    current: list[ServingEngine | None] = [None]
    try:
        port = server_for(health.health_checks(redis=redis, store=store, engine=lambda: current[0]))
        assert get(port, "/healthz") == (503, "networks: not loaded\n")  # no engine yet
        current[0] = engine
        status, body = get(port, "/healthz")
        assert (status, body) == (503, "networks: not loaded: encoder, detector, generator\n")
        assert not engine.raw.generator.is_built  # type: ignore[attr-defined]  # the check built nothing
        engine.raw.encoder.load()  # type: ignore[attr-defined]
        assert get(port, "/healthz") == (503, "networks: not loaded: detector, generator\n")
    finally:
        engine.close()


def test_a_check_that_hangs_or_raises_fails_its_part_only() -> None:
    def hangs() -> str | None:
        time.sleep(5)
        return None

    def raises() -> str | None:
        raise RuntimeError("postgresql://user:secret@db/rapbot")  # its message is never shown

    results = health.run_checks({"slow": hangs, "broken": raises, "fine": lambda: None}, timeout_s=0.5)
    assert results == {"slow": "timed out", "broken": "failed (RuntimeError)", "fine": None}
    status, body = http.health_response(lambda: health.run_checks({"broken": raises}))
    assert status.startswith("503") and b"secret" not in body

    def store_that_cannot_open() -> MemoryStore:
        raise RapError("backend_down", "postgresql://user:secret@db/rapbot is down")

    assert health.health_checks(store=store_that_cannot_open)() == {
        "postgres": "unavailable: cannot connect (RapError: backend_down)"
    }


def test_a_taken_port_is_logged_not_fatal(server_for: Any, caplog: pytest.LogCaptureFixture) -> None:
    port = server_for(None)
    with caplog.at_level(logging.ERROR, logger="worker.ops.metrics"):
        assert http.start_metrics_server(port, None, addr="127.0.0.1") is None
    assert f"cannot listen on port {port}" in caplog.text


async def test_metered_client_counts_calls_and_the_stages_of_in_process_requests(
    server_for: Any, store: MemoryStore, tiny_models: Any, photos: dict[str, bytes], alice: Requester
) -> None:
    port = server_for(None)
    before = scrape(port)
    inner = LocalClient.for_store(store, tiny_models, WorkerSettings(reply_max_new_tokens=4))
    client = metered.MeteredClient(inner)
    try:
        assert client.runtime is inner.runtime  # anything else is the wrapped client's
        await client.list_concepts(alice)
        with pytest.raises(RapError) as failed:
            await client.show(alice, "nobody")
        await client.answer(alice, photos["cat"], "what is this?")
    finally:
        await client.close()
    after = scrape(port)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("rapbot_requests_total", method="list_concepts", outcome="ok") == 1
    assert delta("rapbot_requests_total", method="show", outcome=failed.value.code) == 1
    assert delta("rapbot_requests_total", method="answer", outcome="ok") == 1
    # Timed in the thread the call ran in (nothing is remembered yet: no detection, only generation).
    assert delta("rapbot_stage_duration_seconds_count", method="answer", stage="generate") == 1
    assert delta("rapbot_generated_tokens_total", method="answer") >= 1


async def test_a_bot_wires_metrics_and_health_from_its_celery_client() -> None:
    from worker.transport.celery_client import CeleryClient

    port = free_port()
    settings = WorkerSettings(redis_url=REDIS_URL, metrics_port=port)
    inner = CeleryClient(settings)
    try:
        client = metered.observe_frontend(inner, settings, configure_logs=False)
        assert isinstance(client, metered.MeteredClient) and client.inner is inner
        assert get(port, "/healthz") == (200, "ok\n")  # the bot depends on Redis only
        assert get(port, "/metrics")[0] == 200
        fake = object()
        assert metered.metered(fake) is fake  # not a DispatchingClient: left alone
    finally:
        http.stop_metrics_servers()
        await inner.close()


async def test_metered_client_takes_the_workers_timing_from_the_celery_client() -> None:
    class Celeryish:
        async def call_timed(self, method: str, **kwargs: Any) -> tuple[Any, RequestTiming]:
            return 7, RequestTiming(stages={"search": 0.25})

        async def close(self) -> None:
            pass

    client = metered.MeteredClient(Celeryish())  # type: ignore[arg-type]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    metrics.request_log.addHandler(handler)
    metrics.request_log.setLevel(logging.INFO)
    try:
        assert await client.purge(Requester(platform="console", user_id="a"), "b") == 7
    finally:
        metrics.request_log.removeHandler(handler)
        metrics.request_log.setLevel(logging.NOTSET)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert (line["kind"], line["outcome"], line["stages"]) == ("purge", "ok", {"search": 0.25})


def test_a_request_log_line_is_one_json_object() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    metrics.request_log.addHandler(handler)
    metrics.request_log.setLevel(logging.INFO)
    try:
        timing = RequestTiming(stages={"detect": 0.05, "generate": 1.25}, generate_batch=4, generated_tokens=9)
        metrics.observe_request("answer", "ok", 1.5, timing, request_id="req-42")
    finally:
        metrics.request_log.removeHandler(handler)
        metrics.request_log.setLevel(logging.NOTSET)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["logger"] == "rapbot.requests" and line["level"] == "INFO"
    assert line["request_id"] == "req-42"
    assert (line["kind"], line["outcome"], line["seconds"]) == ("answer", "ok", 1.5)
    assert line["stages"] == {"detect": 0.05, "generate": 1.25}
    assert (line["generate_batch"], line["generated_tokens"]) == (4, 9)
    assert line["message"] == "request req-42 answer ok 1.500s detect=0.050s generate=1.250s"
    assert line["time"].endswith("+00:00")


def test_configure_logging_json_and_text() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    root.handlers = [logging.StreamHandler(stream)]
    try:
        logs.configure_logging(json_logs=True, level="INFO")
        extra = {"volume": "models", "data": {"args": "['answer', {'text': 'private words'}]"}}
        logging.getLogger("rapbot.test").warning("disk %s", "full", extra=extra)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("rapbot.test").exception("failed")
        first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
        assert (first["message"], first["level"], first["volume"]) == ("disk full", "WARNING", "models")
        assert "data" not in first  # Celery's task arguments (a user's text) never reach a log line
        assert second["message"] == "failed" and "ValueError: boom" in second["exc"]
        logs.configure_logging(json_logs=False)
        stream.truncate(0)
        stream.seek(0)
        logging.getLogger("rapbot.test").warning("plain")
        assert stream.getvalue().rstrip().endswith("WARNING rapbot.test: plain")
    finally:
        root.handlers, root.level = saved_handlers, saved_level


def test_settings_read_port_and_json_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPBOT_METRICS_PORT", "9100")
    monkeypatch.setenv("RAPBOT_LOG_JSON", "1")
    settings = WorkerSettings()
    assert (settings.metrics_port, settings.log_json) == (9100, True)
    monkeypatch.delenv("RAPBOT_METRICS_PORT")
    monkeypatch.delenv("RAPBOT_LOG_JSON")
    assert (WorkerSettings().metrics_port, WorkerSettings().log_json) == (None, False)
