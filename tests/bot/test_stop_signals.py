"""Every long-running command stops what it started when it is told to stop: `rapbot console`,
`web` and `worker` as real processes, sent SIGTERM (systemd, docker stop) or SIGINT (Ctrl-C) once
they are up; afterwards no Postgres runs for their data folder and none of their children is left.
(`rapbot telegram`: tests/telegram/test_telegram_stop.py.)"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from process_testkit import postgres_for, signal_data_dir

from memory.database import embedded_pgdata

REPO = Path(__file__).resolve().parents[2]
STOP_S = 120  # to stop, on a busy 2-core machine (a thread may be finishing a network load)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with signal_data_dir() as folder:
        yield folder


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, RAPBOT_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO))
    for name in ("RAPBOT_DATABASE_URL", "RAPBOT_REDIS_URL", "RAPBOT_METRICS_PORT"):
        env.pop(name, None)
    env.update(extra)
    return env


class Running:
    """A `rapbot` command as a process, its output lines collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rapbot", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.put(raw.decode(errors="replace"))

    def wait_for(self, ready: Callable[[], bool], what: str, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.drain()
            if ready():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.drain()
        pytest.fail(f"never {what} (exit {self.process.poll()}):\n{''.join(self.seen)[-3000:]}")

    def drain(self) -> None:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def said(self, text: str) -> bool:
        return text in "".join(self.seen)

    def seen_count(self, text: str) -> int:
        return "".join(self.seen).count(text)

    def stop(self, signum: int, pgdata: Path | None) -> None:
        """Send `signum`; the process and its children must end and leave no Postgres behind."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        if pgdata is not None:
            assert postgres_for(pgdata), "the embedded Postgres was not running before the signal"
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.drain()
            pytest.fail(f"still running {STOP_S} s after {signal.Signals(signum).name}:\n{''.join(self.seen)[-3000:]}")
        deadline = time.monotonic() + 15
        left: list[psutil.Process] = []
        while time.monotonic() < deadline:
            left = [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
            left += postgres_for(pgdata) if pgdata is not None else []
            if not left:
                return
            time.sleep(0.5)
        for process in left:
            process.kill()
        self.drain()
        pytest.fail(
            f"{signal.Signals(signum).name} left {[' '.join(p.cmdline()[:3]) for p in left]} running:\n"
            + "".join(self.seen)[-3000:]
        )


@pytest.fixture
def runs() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for run in started:  # a failed test must not leave its process behind either
        if run.process.poll() is None:
            run.process.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_console_stops_its_embedded_postgres(
    signum: int, tmp_path: Path, data_dir: Path, runs: list[Running]
) -> None:
    env = environment(data_dir)
    run = Running(["console", "--user", "sig", "--out", str(tmp_path / "out")], env, tmp_path)
    runs.append(run)
    assert run.process.stdin is not None
    run.process.stdin.write(b"/concepts\n")  # the pipe stays open: the console waits for the next line
    run.process.stdin.flush()
    run.wait_for(lambda: run.said("I remember nothing here yet"), "answered /concepts")
    run.stop(signum, embedded_pgdata(data_dir))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_web_gallery_stops_its_embedded_postgres(
    signum: int, tmp_path: Path, data_dir: Path, runs: list[Running]
) -> None:
    port = free_port()
    env = environment(
        data_dir,
        RAPBOT_WEB_HOST="127.0.0.1",
        RAPBOT_WEB_PORT=str(port),
        RAPBOT_WEB_SESSION_SECRET="s" * 40,
        RAPBOT_WEB_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    run = Running(["web"], env, tmp_path)
    runs.append(run)

    def serving() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=5) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    run.wait_for(serving, "served the gallery")
    run.stop(signum, embedded_pgdata(data_dir))


def test_the_worker_stops_its_store_worker_and_postgres(tmp_path: Path, data_dir: Path, runs: list[Running]) -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379 (scripts/test starts one)")
    run_id = uuid.uuid4().hex[:8]
    env = environment(
        data_dir,
        RAPBOT_REDIS_URL="redis://127.0.0.1:6379/14",
        RAPBOT_PIPELINE_QUEUE=f"stop-{run_id}-gpu",
        RAPBOT_STORE_QUEUE=f"stop-{run_id}-store",
    )
    run = Running(["worker", "--loglevel", "INFO"], env, tmp_path)
    runs.append(run)
    run.wait_for(lambda: run.seen_count("ready.") >= 2, "had both workers ready")
    pgdata = embedded_pgdata(data_dir)
    run.stop(signal.SIGTERM, pgdata if postgres_for(pgdata) else None)
