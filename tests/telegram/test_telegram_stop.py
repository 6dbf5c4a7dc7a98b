"""`rapbot telegram` as a real process, polling the fake Bot API: SIGTERM or SIGINT once it polls
stops it, and with it the embedded Postgres it started (tests/bot/test_stop_signals.py does the
same for console, web and worker)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from process_testkit import postgres_for, signal_data_dir
from telegram_fake_api import FakeBotApi
from telegram_harness import TOKEN

from memory.database import embedded_pgdata

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with signal_data_dir() as folder:
        yield folder


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_the_telegram_bot_stops_its_embedded_postgres(signum: int, data_dir: Path) -> None:
    async with FakeBotApi(TOKEN) as api:
        env = dict(
            os.environ,
            PYTHONPATH=str(REPO),
            RAPBOT_DATA_DIR=str(data_dir),
            RAPBOT_TELEGRAM_TOKEN=TOKEN,
            RAPBOT_TELEGRAM_BASE_URL=api.base_url,
            RAPBOT_TELEGRAM_BASE_FILE_URL=api.base_file_url,
        )
        for name in ("RAPBOT_DATABASE_URL", "RAPBOT_REDIS_URL", "RAPBOT_METRICS_PORT", "RAPBOT_WEB_PUBLIC_URL"):
            env.pop(name, None)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rapbot",
            "telegram",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 300
            # deleteWebhook comes right before polling starts (the fake answers getUpdates only later).
            while not any(call.method == "deleteWebhook" for call in api.calls):
                assert process.returncode is None, "rapbot telegram exited before polling"
                assert time.monotonic() < deadline, "rapbot telegram never polled"
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)  # polling now
            pgdata = embedded_pgdata(data_dir)
            assert postgres_for(pgdata), "the embedded Postgres was not running before the signal"
            children = psutil.Process(process.pid).children(recursive=True)
            process.send_signal(signum)
            output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
            deadline = time.monotonic() + 15
            while left := postgres_for(pgdata) + [c for c in children if c.is_running() and c.status() != "zombie"]:
                if time.monotonic() > deadline:
                    for leftover in left:
                        leftover.kill()
                    pytest.fail(f"{signal.Signals(signum).name} left {left} running:\n{output.decode()[-3000:]}")
                await asyncio.sleep(0.5)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
