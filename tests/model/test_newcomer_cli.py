"""The first hour on the command line: help without noise, `--version`, defaults read from the
settings they describe, profile lists from the profile table, a missing-weights message that names
every missing weight once with the exact command to type, and `models pull` without network failing
in seconds with one line."""

from __future__ import annotations

import importlib
import re
import time
from pathlib import Path
from typing import get_args

import pytest
import typer
from typer.testing import CliRunner

from model.settings import ModelSettings, Profile

runner = CliRunner()


def _commands(app: typer.Typer) -> list[list[str]]:
    """Every command path of the root app, e.g. ["models", "pull"]."""
    import typer.main

    group = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(group, [])
    return paths


def test_help_has_no_completion_noise_and_no_type_labels_on_flags() -> None:
    from rapbot.cli import app

    for path in _commands(app):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "--install-completion" not in result.output and "--show-completion" not in result.output, path
        assert "<bool>" not in result.output and "╭" not in result.output, (path, result.output)


def test_version() -> None:
    from rapbot.cli import app

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and re.fullmatch(r"rapbot \d+\.\d+\.\d+\S*\n", result.output), result.output


def test_models_help_lists_every_profile_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from rapbot.cli import app

    monkeypatch.setenv("RAPBOT_PROFILE", "tiny")
    for command in ("check", "pull"):
        text = " ".join(runner.invoke(app, ["models", command, "--help"]).output.split())
        assert all(profile in text for profile in get_args(Profile)), text


def test_worker_help_shows_the_batch_defaults_of_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.ops.cli

    monkeypatch.setenv("RAPBOT_BATCH_WAIT_MS", "7")
    monkeypatch.setenv("RAPBOT_MAX_BATCH", "4")
    root = typer.Typer(add_completion=False, rich_markup_mode=None)
    importlib.reload(worker.ops.cli).register(root)
    text = " ".join(runner.invoke(root, ["worker", "--help"]).output.split())
    assert "[default: RAPBOT_BATCH_WAIT_MS, now 7]" in text and "[default: RAPBOT_MAX_BATCH, now 4]" in text, text
    assert "-1.0" not in text and "first request" in text and "as soon as it is up" in text, text


def test_missing_weights_are_all_named_once_per_process_with_the_command_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model.weights as weights

    monkeypatch.setenv("RAPBOT_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("RAPBOT_INVOKED_AS", "scripts/rapbot")
    monkeypatch.setattr(weights, "_told", set())
    settings = ModelSettings(profile="cpu")
    error = weights.WeightsMissing("detector yolov8s-worldv2.pt", "cpu", "offline and not in the model dir")
    first = weights.missing_weights_message(error, settings)
    assert "`scripts/rapbot models pull cpu`" in first, first
    for name in ("ViT-B-32/openai", "yolov8s-worldv2.pt", "SmolVLM-256M-Instruct"):  # CLIP too
        assert name in first, first
    again = weights.missing_weights_message(error, settings)
    assert len(again) < len(first) / 2 and "`scripts/rapbot models pull cpu`" in again, again
    assert "\n" not in first + again


def test_pull_without_network_fails_in_seconds_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from rapbot.cli import app

    monkeypatch.setenv("RAPBOT_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("RAPBOT_INVOKED_AS", "scripts/rapbot")
    for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: no network
    started = time.monotonic()
    result = runner.invoke(app, ["models", "pull", "cpu"])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "no network" in lines[0] and "`scripts/rapbot models pull cpu`" in lines[0], lines
    assert not any(tmp_path.iterdir())
