"""The layering contracts of pyproject.toml ([tool.importlinter], docs/architecture.md) hold, and
`lint-imports` fails when one is broken: each case plants one violation in a copy of the packages
and runs the real contracts on it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rapbot", "bot", "worker", "memory", "model", "training", "migrations")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # lint-imports puts its working directory first on sys.path: the copy is analysed, not the install.
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("contracts") / "clean"
    copy.mkdir()
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def test_the_repository_keeps_every_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


# case: (the lines appended to each file, created when missing; the contract that must break)
PLANTED: dict[str, tuple[dict[str, str], str]] = {
    "bot imports torch": ({"bot/planted.py": "import torch\n"}, "bot/ never imports a network"),
    "bot imports model": ({"bot/planted.py": "from model import types\n"}, "bot/ never imports a network"),
    "memory imports worker": ({"memory/planted.py": "import worker.client\n"}, "Packages in layers"),
    "model imports memory": ({"model/planted.py": "from memory import types\n"}, "Packages in layers"),
    "model imports sqlalchemy": ({"model/planted.py": "import sqlalchemy\n"}, "model/ never imports SQL"),
    "domain imports transport": ({"worker/domain/planted.py": "from worker.transport import wire\n"}, "wings"),
    "domain imports celery": ({"worker/domain/planted.py": "import celery\n"}, "knows no Celery"),
    "worker imports memory's SQL": (
        {"worker/domain/planted.py": "from memory.repositories import search\n"},
        "memory's repositories",
    ),
    "bot imports the domain": ({"bot/planted.py": "from worker.domain import pipeline\n"}, "through its client"),
    "client imports a wing": (
        {"worker/client.py": "\nfrom worker.domain import pipeline\n"},
        "worker's shared vocabulary",
    ),
    "a migration imports live code": (
        {"migrations/versions/0099_planted.py": "from memory.validation import name_key\n"},
        "a migration version imports no live code",
    ),
    # A circle only a type checker walks is a circle too.
    "a cycle behind TYPE_CHECKING": (
        {
            "model/planted.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from model import profiles\n",
            "model/profiles.py": "\nfrom model import planted\n",
        },
        "No import cycles",
    ),
}


@pytest.mark.parametrize("case", list(PLANTED), ids=lambda case: case.replace(" ", "-"))
def test_a_planted_violation_breaks_a_contract(case: str, clean_copy: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(clean_copy, copy)
    plants, contract = PLANTED[case]
    for path, lines in plants.items():
        target = copy / path
        before = target.read_text(encoding="utf-8") if target.exists() else ""
        target.write_text(before + lines, encoding="utf-8")
    result = _lint_imports(copy)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    # The planted import itself is named under its contract (not some other violation of it).
    section = broken.split(contract, 1)[-1].split("\n\n\n", 1)[0]
    assert contract in broken and ("planted" in section or "worker.client -> worker.domain" in section), result.stdout
