"""A malformed setting is named with what it expects, never echoed: the value may be a password
typed into the wrong variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_rapbot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rapbot", *args],
        env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_a_password_in_a_numeric_setting_is_never_printed() -> None:
    done = run_rapbot("worker", RAPBOT_REDIS_URL="redis://127.0.0.1:1/0", RAPBOT_VISIBILITY_TIMEOUT_S="hunter2-s3cret")
    assert done.returncode == 2
    assert "RAPBOT_VISIBILITY_TIMEOUT_S" in done.stderr and "valid integer" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_settings_that_contradict_each_other_say_which_rule() -> None:
    done = run_rapbot("worker", RAPBOT_REDIS_URL="redis://127.0.0.1:1/0", RAPBOT_CLIENT_TIMEOUT_S="50")
    assert done.returncode == 2
    # The client timeout must leave room for every redelivery up to the dead letter (worker/settings.py).
    assert "RAPBOT_CLIENT_TIMEOUT_S >= RAPBOT_MAX_DELIVERIES x (RAPBOT_VISIBILITY_TIMEOUT_S" in done.stderr
