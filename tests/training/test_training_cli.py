"""`rapbot data build` and `rapbot train` from the command line, with config files."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rapbot.cli import app
from training.schema import read_samples

runner = CliRunner()


def test_data_build_command(coco_set: Path, tmp_path: Path) -> None:
    config = tmp_path / "build.yaml"
    config.write_text("seed: 4\nnoise_ratio: 1.0\nratios:\n  grounding: 0\n")
    out = tmp_path / "data"
    result = runner.invoke(app, ["data", "build", "--coco", str(coco_set), "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "samples in" in result.output and "recognition" in result.output
    assert "not made without an annotator" in result.output
    samples = read_samples(out / "samples.json")
    assert samples and not any(s.type == "grounding" for s in samples)
    assert json.loads((out / "summary.json").read_text())["config"]["seed"] == 4
    again = runner.invoke(app, ["data", "build", "--coco", str(coco_set), "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_data_build_reports_config_mistakes(coco_set: Path, tmp_path: Path) -> None:
    config = tmp_path / "build.json"
    config.write_text(json.dumps({"seed": 1, "noise_ratio": 3, "ratio": {}}))
    result = runner.invoke(
        app, ["data", "build", "--coco", str(coco_set), "--out", str(tmp_path / "o"), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert "noise_ratio" in result.output and "ratio: Extra inputs are not permitted" in result.output
    assert not (tmp_path / "o").exists()
    none = runner.invoke(app, ["data", "build", "--out", str(tmp_path / "o")])
    assert none.exit_code == 2 and "give at least one input" in none.output


def test_train_command_with_a_yaml_config(coco_set: Path, tiny_llava_dir: Path, tmp_path: Path) -> None:
    assert (
        runner.invoke(app, ["data", "build", "--coco", str(coco_set), "--out", str(tmp_path / "data")]).exit_code == 0
    )
    config = tmp_path / "train.yaml"
    config.write_text(
        f"base_model: {tiny_llava_dir}\n"
        "data: data/samples.json\n"  # relative to the config file
        "output_dir: run\n"
        "eval_data: data/samples.json\n"
        "max_steps: 2\nbatch_size: 4\ngradient_accumulation: 1\nsave_steps: 2\n"
        "lora: {r: 4, alpha: 8}\n"
        "merge: true\n"
    )
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "trained 2 steps" in result.output and "eval loss" in result.output
    assert (tmp_path / "run/adapter/mm_projector.safetensors").is_file()
    from transformers import LlavaForConditionalGeneration

    merged = LlavaForConditionalGeneration.from_pretrained(str(tmp_path / "run/merged"))
    assert not any("lora" in name for name, _ in merged.named_parameters())
    missing = runner.invoke(app, ["train", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "config file not found" in missing.output
