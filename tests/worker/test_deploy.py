"""The deployment files: .env.example documents every RAPBOT_ setting, no two settings share an
environment variable by accident, and docker-compose.yml is valid."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]


def settings_classes() -> list[type[BaseSettings]]:
    """Every BaseSettings class defined in a settings.py of the project's packages."""
    found: list[type[BaseSettings]] = []
    for path in sorted(ROOT.glob("*/**/settings.py")):
        if ".venv" in path.parts:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value is not BaseSettings
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def env_names(cls: type[BaseSettings]) -> list[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [(prefix + name).upper() for name in cls.model_fields]


def test_env_example_documents_every_setting() -> None:
    documented = set(re.findall(r"^#?\s*(RAPBOT_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    classes = settings_classes()
    assert any(cls.__name__ == "WorkerSettings" for cls in classes)
    missing = sorted({name for cls in classes for name in env_names(cls)} - documented)
    assert missing == [], f"add these to .env.example: {missing}"


def test_no_two_settings_read_the_same_variable() -> None:
    owners: dict[str, list[str]] = {}
    for cls in settings_classes():
        for name in env_names(cls):
            owners.setdefault(name, []).append(f"{cls.__module__}.{cls.__name__}")
    shared = {name: where for name, where in owners.items() if len(where) > 1}
    assert shared == {}, f"one variable would configure two things: {shared}"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_file_is_valid(tmp_path: Path) -> None:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")  # what the README tells a user to do first
    for profile in ([], ["--profile", "telegram"], ["--profile", "discord"], ["--profile", "web"]):
        checked = subprocess.run(
            ["docker-compose", "-f", str(tmp_path / "docker-compose.yml"), *profile, "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stderr
