"""The dataset builder on a small COCO-style set of real photos."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from model import prompt as rap
from training.builder import NEGATIVE_ANSWERS, POSITIVE_ANSWERS, DatasetBuilder
from training.schema import RapSample, read_samples
from training.settings import BuildConfig, TaskRatios
from training.sources import read_coco, read_concept_folder


def build(coco: Path, out: Path, **config: Any) -> dict[str, Any]:
    cfg = BuildConfig(**config)
    source = read_coco(coco, None, seed=cfg.seed, min_crop_px=cfg.min_crop_px)
    return DatasetBuilder(cfg).build(source, out)


@pytest.fixture(scope="module")
def built(coco_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "data"
    build(coco_set, out, seed=7)
    return out


def test_output_validates_and_every_file_exists(built: Path) -> None:
    samples = read_samples(built / "samples.json")
    assert samples
    for sample in samples:
        if sample.image:
            assert Image.open(built / sample.image).size[0] > 0
        for crop in sample.extra:
            assert (built / crop).is_file()
        assert 1 <= len(sample.extra) <= 2  # max_num_concept of RAP-LLaVA
    summary = json.loads((built / "summary.json").read_text())
    assert summary["samples"] == len(samples)
    assert summary["per_task"]["recognition"] > 0 and summary["per_task"]["grounding"] > 0
    # Without an annotator, annotator-only tasks are counted as skipped, not silently dropped.
    assert set(summary["skipped_needs_annotator"]) <= {"caption", "description", "qa", "qa_text"}


def test_prompt_built_from_a_sample_is_the_rap_format(built: Path) -> None:
    sample = next(s for s in read_samples(built / "samples.json") if s.type == "grounding" and len(s.extra) == 2)
    concepts = [type("C", (), {"name": c.name, "info": c.info, "image": path})() for path, c in sample.extra.items()]
    prompt = rap.build_prompt(rap.VICUNA_V1, sample.image, concepts, sample.question)
    (p1, c1), (p2, c2) = sample.extra.items()
    expected_turn = (
        f"<image>\n[1.<image>\n Name: <{c1.name}>, Info: {c1.info}\n2.<image>\n Name: <{c2.name}>, Info: {c2.info}\n]"
        + sample.question
    )
    assert prompt.text == rap.VICUNA_V1.system + " USER: " + expected_turn + " ASSISTANT:"
    assert prompt.images == [sample.image, p1, p2]


def test_grounding_answers_are_normalised_boxes_with_two_decimals(built: Path) -> None:
    samples = [s for s in read_samples(built / "samples.json") if s.type == "grounding"]
    for s in samples:
        values = json.loads(s.conversations[1].value)
        assert len(values) == 4 and all(0 <= v <= 1 for v in values)
        assert all(round(v, 2) == v for v in values)
        assert values[0] < values[2] and values[1] < values[3]
    cat = next(s for s in samples if "Zoë the cat" in s.question and "chelsea" not in s.question)
    assert cat.conversations[1].value in {"[0.29, 0.07, 0.73, 0.83]", "[0.27, 0.07, 0.71, 0.83]"}


def test_negatives_keep_the_answer_and_add_noise_concepts(built: Path) -> None:
    samples = read_samples(built / "samples.json")
    noisy = [s for s in samples if s.type == "grounding" and len(s.extra) == 2]
    assert noisy, "noise_ratio 0.5 should give some grounding samples a noise concept"
    for s in noisy:
        target = re.search(r"<(.+?)>", s.question).group(1)  # type: ignore[union-attr]
        names = [c.name for c in s.extra.values()]
        assert target in names and len(set(names)) == 2
    # the same question about the same concept has the same answer with and without noise
    by_question: dict[tuple[str | None, str], set[str]] = {}
    for s in samples:
        if s.type == "grounding":
            by_question.setdefault((s.image, re.search(r"<(.+?)>", s.question).group(1)), set()).add(  # type: ignore[union-attr]
                s.conversations[1].value
            )
    assert all(len(answers) == 1 for answers in by_question.values())


def test_recognition_answers_match_presence(built: Path) -> None:
    for s in read_samples(built / "samples.json"):
        if s.type != "recognition":
            continue
        name = re.search(r"<(.+?)>", s.question).group(1)  # type: ignore[union-attr]
        answer = s.conversations[1].value
        assert answer in {a.format(name=name) for a in POSITIVE_ANSWERS + NEGATIVE_ANSWERS}
        assert name in {c.name for c in s.extra.values()}


def test_same_seed_same_bytes_other_seed_differs(coco_set: Path, built: Path, tmp_path: Path) -> None:
    build(coco_set, tmp_path / "again", seed=7)
    build(coco_set, tmp_path / "other", seed=8)
    assert (tmp_path / "again/samples.json").read_bytes() == (built / "samples.json").read_bytes()
    crops = sorted(p.name for p in (built / "crops").iterdir())
    assert crops == sorted(p.name for p in (tmp_path / "again/crops").iterdir())
    assert all((built / "crops" / c).read_bytes() == (tmp_path / "again/crops" / c).read_bytes() for c in crops)
    assert (tmp_path / "other/samples.json").read_bytes() != (built / "samples.json").read_bytes()


def test_max_num_concept_skips_samples(coco_set: Path, tmp_path: Path) -> None:
    summary = build(coco_set, tmp_path / "one", seed=1, max_num_concept=1, noise_ratio=1.0)
    samples = read_samples(tmp_path / "one/samples.json")
    assert all(len(s.extra) == 1 for s in samples)
    # the astronaut photo holds two concepts: its whole-image tasks cannot carry both
    assert summary["skipped_over_max_num_concept"] >= 1


def test_ratios_change_the_mix(coco_set: Path, tmp_path: Path) -> None:
    summary = build(
        coco_set, tmp_path / "mix", ratios=TaskRatios(recognition_positive=0, recognition_negative=0, grounding=2)
    )
    assert set(summary["per_task"]) == {"grounding"}
    assert summary["per_task"]["grounding"] == 2 * 6  # every occurrence has a box


def test_bad_items_are_reported_and_the_rest_is_built(coco_set: Path, tmp_path: Path) -> None:
    data = json.loads(coco_set.read_text())
    data["images"].append({"id": 99, "file_name": "missing.jpg"})
    data["annotations"] += [
        {"id": 100, "image_id": 99, "bbox": [0, 0, 10, 10], "category_id": 1},
        {"id": 101, "image_id": 3, "bbox": [500, 300, 400, 400], "category_id": 3},  # outside coffee.jpg
        {"id": 102, "image_id": 3, "bbox": [10, 10, 2, 2], "category_id": 3},  # empty crop
        {"id": 103, "image_id": 0, "bbox": [10, 10, 50, 50], "category_id": 1, "name": "ZOË THE CAT"},  # duplicate
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    for image in data["images"][:-1]:
        (tmp_path / image["file_name"]).write_bytes((coco_set.parent / image["file_name"]).read_bytes())
    summary = build(bad, tmp_path / "out", seed=7)
    reasons = " | ".join(p["item"] + ": " + p["reason"] for p in summary["problems"])
    assert "missing.jpg: image file not found" in reasons
    assert "outside" in reasons and "tiny crop" in reasons and "duplicate name" in reasons
    assert summary["samples"] > 0


def test_an_existing_output_is_kept_unless_overwrite(coco_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build(coco_set, out)
    assert (out / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind


def test_concept_folder_input(tmp_path: Path) -> None:
    from skimage import data

    for name, array in (("bo", data.chelsea()), ("bo", data.chelsea()[:, ::-1]), ("Ada Lovelace", data.astronaut())):
        folder = tmp_path / "concepts" / name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / f"{len(list(folder.iterdir()))}.jpg")
    (tmp_path / "concepts/concepts.yaml").write_text(
        "bo: {info: my ginger cat, category: cat}\n"
        "'Ada Lovelace': {category: person, boxes: {'0.jpg': [150, 10, 350, 230]}}\n"
    )
    cfg = BuildConfig(seed=3)
    source = read_concept_folder(tmp_path / "concepts", min_crop_px=cfg.min_crop_px)
    assert not source.problems
    summary = DatasetBuilder(cfg).build(source, tmp_path / "out")
    samples = read_samples(tmp_path / "out/samples.json")
    assert summary["per_task"]["grounding"] == 1  # only Ada has a box
    infos = {c.name: c.info for s in samples for c in s.extra.values()}
    assert infos["bo"] == "my ginger cat" and infos["Ada Lovelace"] == "A person."


def test_rap_samples_pass_through(built: Path, tmp_path: Path) -> None:
    cfg = BuildConfig(seed=1)
    summary = DatasetBuilder(cfg).build(
        read_coco(Path("/nonexistent.json"), None, seed=1, min_crop_px=8),
        tmp_path / "out",
        passthrough=[(built / "samples.json", built)],
    )
    original = read_samples(built / "samples.json")
    carried = read_samples(tmp_path / "out/samples.json")
    assert summary["passthrough"] == len(original) == len(carried)
    assert [s.conversations for s in carried] == [s.conversations for s in original]
    assert all(Path(s.image).is_absolute() and Path(s.image).is_file() for s in carried if s.image)


def test_schema_rejects_bad_samples() -> None:
    good: dict[str, Any] = {
        "id": "1",
        "image": "q.jpg",
        "conversations": [{"from": "human", "value": "<image>\nIs <bo> here?"}, {"from": "gpt", "value": "Yes."}],
        "extra": {"c.jpg": {"name": "bo", "info": "", "category": "dog"}},
    }
    RapSample.model_validate(good)
    for broken in (
        {**good, "conversations": good["conversations"][:1]},
        {**good, "conversations": [good["conversations"][1], good["conversations"][0]]},
        {**good, "image": None},
        {**good, "conversations": [{"from": "human", "value": "no image token"}, good["conversations"][1]]},
    ):
        with pytest.raises(ValueError):
            RapSample.model_validate(broken)


def test_refcoco_refs_pick_the_objects_and_describe_them(coco_set: Path, tmp_path: Path) -> None:
    data = json.loads(coco_set.read_text())
    data["refs"] = [
        {"ann_id": 2, "sentences": [{"sent": "astronaut in a white suit"}]},
        {"ann_id": 4, "sentences": [{"sent": "cup of coffee on a saucer"}]},
    ]
    ref_json = coco_set.parent / "refcoco_style.json"
    ref_json.write_text(json.dumps(data))
    source = read_coco(ref_json, None, seed=0, min_crop_px=8)
    assert [o.category for i in source.images for o in i.occurrences] == ["person", "cup"]
    DatasetBuilder(BuildConfig(seed=0)).build(source, tmp_path / "out")
    infos = {c.info for s in read_samples(tmp_path / "out/samples.json") for c in s.extra.values()}
    assert infos == {"The astronaut in a white suit.", "The cup of coffee on a saucer."}
