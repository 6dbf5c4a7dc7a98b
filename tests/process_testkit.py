"""Helpers for the tests that run rapbot as a real process and signal it (tests/bot/test_stop_signals.py,
tests/telegram/test_telegram_stop.py, tests/discord/test_discord_stop.py): which Postgres servers
run on a data folder, and a data folder the embedded Postgres's own user can reach."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


def postgres_for(pgdata: Path) -> list[psutil.Process]:
    """The Postgres server processes running on `pgdata` (its postmaster names the folder)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            command = process.info["cmdline"] or []
            if any(str(pgdata) in part for part in command) and "postgres" in " ".join(command):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@contextmanager
def signal_data_dir() -> Iterator[Path]:
    """A data folder under /tmp, readable by the embedded Postgres's user (pytest's tmp_path is
    root's alone), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="rbsig-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder / "data"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
