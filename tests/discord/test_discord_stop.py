"""`rapbot discord` as a real process: SIGTERM or SIGINT once its embedded Postgres runs (while it
opens its client and connects to Discord) stops it, and leaves no Postgres behind for its data
folder. Discord itself is not reachable from the tests: whether the signal or the failed
connection ends it first, nothing it started may be left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_testkit import postgres_for, signal_data_dir

from memory.database import embedded_pgdata

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with signal_data_dir() as folder:
        yield folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_discord_bot_stops_its_embedded_postgres(signum: int, data_dir: Path) -> None:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        RAPBOT_DATA_DIR=str(data_dir),
        RAPBOT_DISCORD_TOKEN="MTAx.fake.token-for-the-stop-test",
    )
    for name in ("RAPBOT_DATABASE_URL", "RAPBOT_REDIS_URL", "RAPBOT_METRICS_PORT", "RAPBOT_WEB_PUBLIC_URL"):
        env.pop(name, None)
    pgdata = embedded_pgdata(data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "rapbot", "discord"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 300
        while not postgres_for(pgdata) and process.poll() is None:
            assert time.monotonic() < deadline, "the embedded Postgres never started"
            time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signum)
        output, _ = process.communicate(timeout=120)
        deadline = time.monotonic() + 15
        while postgres_for(pgdata):
            if time.monotonic() > deadline:
                for leftover in postgres_for(pgdata):
                    leftover.kill()
                pytest.fail(f"{signal.Signals(signum).name}: Postgres left running:\n{output.decode()[-3000:]}")
            time.sleep(0.5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
