"""Every bench script runs at its `--smoke` size, so a change elsewhere (a schema migration, a
renamed function, a new required setting) cannot break a bench silently. The scripts are found in
bench/, not listed here: a new script without `--smoke` fails this test. Each runs as its own
process, offline on the tiny profile, with its own data folder; the sizes are the scripts' own
(`--smoke` in each). Alone: `pytest -m bench_smoke`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
SCRIPTS = sorted(path.name for path in BENCH.glob("*.py") if 'if __name__ == "__main__":' in path.read_text())
# Arguments a script needs besides --smoke (a place to write to).
EXTRA: dict[str, list[str]] = {"make_random_llava.py": ["{tmp}/llava"]}
# Scripts whose --smoke is still being added by its owner: skipped with the reason, never silently.
PENDING: dict[str, str] = {}
TIMEOUT_S = 900  # per script, on a busy 2-core machine; most take well under a minute on a free one

pytestmark = pytest.mark.bench_smoke


def test_the_bench_folder_holds_the_scripts_the_figures_come_from() -> None:
    for script in ("retrieval.py", "pipeline.py", "load.py", "hostile.py", "soak.py", "models.py", "train.py"):
        assert script in SCRIPTS, script


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder the embedded Postgres's own user can reach (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="rbbench-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder / "data"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bench_script_runs_at_its_smoke_size(script: str, tmp_path: Path, data_dir: Path) -> None:
    if script in PENDING:
        pytest.skip(PENDING[script])
    source = (BENCH / script).read_text()
    assert '"--smoke"' in source, f"bench/{script} has no --smoke size: add one (a few seconds' worth of its run)"
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        YOLO_OFFLINE="1",
        YOLO_AUTOINSTALL="0",
        RAPBOT_PROFILE="tiny",
        RAPBOT_DATA_DIR=str(data_dir),
        PYTHONPATH=str(REPO),
    )
    env.pop("RAPBOT_DATABASE_URL", None)  # each bench starts its own embedded Postgres
    env.pop("RAPBOT_REDIS_URL", None)
    extra = [arg.format(tmp=tmp_path) for arg in EXTRA.get(script, [])]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke", *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    took = time.monotonic() - started
    output = f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    assert done.returncode == 0, f"bench/{script} --smoke exited {done.returncode} after {took:.0f} s\n{output}"
    assert done.stdout.strip(), f"bench/{script} --smoke printed no figures\n{output}"
