"""End-to-end evaluation on the tiny profile through the command line: both reports written, the
metrics agree with the predictions, and bad eval files get a clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from rapbot.cli import app
from training.metrics import aggregate_captions, score_caption

runner = CliRunner()


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skimage import data

    root = tmp_path_factory.mktemp("evalset")
    (root / "concepts").mkdir()
    (root / "test").mkdir()
    cat, astronaut, coffee = (
        Image.fromarray(a).convert("RGB") for a in (data.chelsea(), data.astronaut(), data.coffee())
    )
    cat.crop((130, 20, 330, 250)).save(root / "concepts/zoe.jpg")
    astronaut.crop((150, 10, 350, 230)).save(root / "concepts/ada.jpg")
    coffee.crop((140, 80, 480, 340)).save(root / "concepts/cup.jpg")
    cat.save(root / "test/cat.jpg")
    astronaut.save(root / "test/astronaut.jpg")
    coffee.save(root / "test/coffee.jpg")
    concepts = {
        "Zoë the cat": {"image": "concepts/zoe.jpg", "info": "A ginger tabby.", "category": "cat"},
        "Ada": {"image": "concepts/ada.jpg", "info": "An astronaut in a white suit.", "category": "person"},
        "cup": {"image": "concepts/cup.jpg", "info": "A red mug.", "category": "cup"},
    }
    sets = {
        "caption": [
            {"image": "test/cat.jpg", "concepts": ["Zoë the cat"]},
            {"image": "test/astronaut.jpg", "concepts": ["Ada"]},
            {"image": "test/coffee.jpg", "concepts": ["cup"]},
        ],
        "recognition": [
            {"image": "test/cat.jpg", "concept": "Zoë the cat", "present": True},
            {"image": "test/cat.jpg", "concept": "Ada", "present": False},
            {"image": "test/astronaut.jpg", "concept": "Ada", "present": True},
        ],
        "qa": [
            {"image": "test/cat.jpg", "concepts": ["Zoë the cat"], "question": "What colour is <Zoë the cat>?",
             "options": {"A": "ginger", "B": "black"}, "answer": "A"},
            {"image": None, "concepts": ["cup"], "question": "What colour is <cup>?",
             "options": {"A": "blue", "B": "red"}, "answer": "B"},
        ],
    }  # fmt: skip
    for task, samples in sets.items():
        (root / f"{task}.json").write_text(json.dumps({"concepts": concepts, "samples": samples}, ensure_ascii=False))
    return root


def run(*args: str) -> str:
    result = runner.invoke(app, ["eval", *args, "--profile", "tiny"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_caption_eval_writes_both_reports(eval_dir: Path, tmp_path: Path) -> None:
    output = run("--task", "caption", "--data", str(eval_dir / "caption.json"), "--out", str(tmp_path))
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(predictions) == 3
    # skip-retrieval: each prompt carries exactly the photo's true concepts
    assert [p["concepts_in_prompt"] for p in predictions] == [["Zoë the cat"], ["Ada"], ["cup"]]
    known = ["Zoë the cat", "Ada", "cup"]
    expected = aggregate_captions(score_caption(p["prediction"], p["targets"], known) for p in predictions)
    assert metrics["recall"] == expected.recall and metrics["precision"] == expected.precision
    table = (tmp_path / "metrics.md").read_text()
    assert "| recall | precision | f1 | images |" in table and table in output


def test_recognition_eval_through_the_full_pipeline(eval_dir: Path, tmp_path: Path) -> None:
    run(
        "--task",
        "recognition",
        "--mode",
        "pipeline",
        "--data",
        str(eval_dir / "recognition.json"),
        "--out",
        str(tmp_path),
    )
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # the concept named in the question always reaches the prompt first
    assert [p["concepts_in_prompt"][0] for p in predictions] == ["Zoë the cat", "Ada", "Ada"]
    assert (metrics["positives"], metrics["negatives"]) == (2, 1)
    positives = [p["correct"] for p in predictions if p["present"]]
    assert metrics["positive"] == sum(positives) / 2
    assert (tmp_path / "metrics.md").is_file()


def test_qa_eval_visual_and_text_only(eval_dir: Path, tmp_path: Path) -> None:
    run("--task", "qa", "--data", str(eval_dir / "qa.json"), "--out", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    assert (metrics["visual_questions"], metrics["text_questions"]) == (1, 1)
    assert metrics["visual"] == float(predictions[0]["correct"])
    assert metrics["text"] == float(predictions[1]["correct"])


def test_bad_eval_file_is_a_clear_error(eval_dir: Path, tmp_path: Path) -> None:
    bad = json.loads((eval_dir / "recognition.json").read_text())
    bad["samples"].append({"image": "test/cat.jpg", "concept": "nobody", "present": False})
    path = eval_dir / "bad.json"
    path.write_text(json.dumps(bad))
    result = runner.invoke(
        app, ["eval", "--task", "recognition", "--data", str(path), "--out", str(tmp_path), "--profile", "tiny"]
    )
    assert result.exit_code == 2
    assert "sample 3: unknown concept 'nobody'" in result.output
    assert not (tmp_path / "predictions.json").exists()
