"""The RePIC generator on a tiny random-weight Qwen2.5-VL (real architecture, processor and chat
template; built in code, offline), and the RePIC profiles' weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from tiny_vlms import BO, MAM, QUERY, TOY, photo
from typer.testing import CliRunner

from model.cli import register
from model.profiles import LazyGenerator, load_bundle, profile_weights
from model.repic import RepicGenerator, RepicSpecError, build_repic_generator, parse_repic_spec
from model.settings import ModelSettings
from model.types import ConceptRef, GenerationRequest
from model.weights import RAP_VISION_TOWER, WeightsMissing

VISION = "<|vision_start|><|image_pad|><|vision_end|>"
CUP = ConceptRef("cup", "my blue mug", photo((20, 20, 220), (64, 48)), box=(0, 0, 20, 20), score=0.5)


def tiny_settings() -> ModelSettings:
    # Greedy and short: the random model writes noise, and equal inputs must give equal answers.
    return ModelSettings(device="cpu", dtype="float32", max_new_tokens=6, deterministic=True)


@pytest.fixture(scope="module")
def repic() -> RepicGenerator:
    generator = build_repic_generator("tiny-repic", tiny_settings())
    generator.load()
    return generator


def test_answers_a_photo_with_four_concepts_in_repics_prompt(repic: RepicGenerator) -> None:
    generation = repic.generate(QUERY, [BO, MAM, TOY, CUP], "What is <bo> doing?")

    assert generation.used == ["bo", "mam", "toy1", "cup"] and generation.dropped == []
    assert generation.prompt.count(VISION) == 5  # four references, then the query photo
    assert f"{VISION}4. Name: <cup>, Info: my blue mug{VISION}This is the query image. What is <bo> doing?" in (
        generation.prompt
    )
    assert 0 < generation.tokens <= 6


def test_a_text_question_sends_only_the_reference_photos(repic: RepicGenerator) -> None:
    generation = repic.generate(None, [BO], "What does <bo> like?")
    assert generation.prompt.count(VISION) == 1
    assert "This is the query image." not in generation.prompt
    prepared = repic.prepare(None, [BO], "What does <bo> like?")
    assert prepared.inputs["image_grid_thw"].shape[0] == 1


def test_batched_answers_equal_answers_alone(repic: RepicGenerator) -> None:
    requests = [
        GenerationRequest(QUERY, [BO, MAM], "What is <bo> doing?"),
        GenerationRequest(None, [], "Hello?"),
        GenerationRequest(photo((10, 200, 10), (40, 160)), [TOY, CUP, BO, MAM], "Give a caption."),
    ]
    alone = [repic.generate(r.image, r.concepts, r.question).text for r in requests]
    batched = repic.generate_batch(requests)
    assert [b.text for b in batched if not isinstance(b, BaseException)] == alone
    assert all(not isinstance(b, BaseException) and b.batch == 3 for b in batched)


def test_four_concepts_by_default_and_a_setting_changes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_repic_generator("tiny-repic", ModelSettings()).max_concepts == 4
    assert load_bundle("tiny-repic").generator.max_concepts == 4
    monkeypatch.setenv("RAPBOT_REPIC_MAX_CONCEPTS", "6")
    assert load_bundle("tiny-repic").generator.max_concepts == 6
    monkeypatch.setenv("RAPBOT_REPIC_MAX_CONCEPTS", "0")
    with pytest.raises(ValidationError):
        ModelSettings()


def test_a_checkpoint_directory_gets_repics_visual_token_cap(repic: RepicGenerator) -> None:
    """A real checkpoint is loaded as RePIC's evaluation loads it (max_pixels=1024*28*28): a large
    photo becomes at most 1024 visual tokens (the tiny build keeps its own 16)."""
    directory = repic._checkpoint()
    as_checkpoint = build_repic_generator(f"repic:{directory}", tiny_settings())
    large = photo((120, 60, 30), (1000, 1000))

    grid = as_checkpoint.prepare(large, [], "Describe it.").inputs["image_grid_thw"]
    tiny_grid = repic.prepare(large, [], "Describe it.").inputs["image_grid_thw"]

    tokens = int(grid.prod()) // 4  # 2x2 patches merge into one token
    assert 900 < tokens <= 1024
    assert int(tiny_grid.prod()) // 4 <= 16


def test_missing_weights_offline_name_the_pull_command(tmp_path: Path) -> None:
    generator = build_repic_generator(
        "repic:Yeongtak/RePIC_Qwen2.5VL_7B", ModelSettings(profile="gpu-repic", model_dir=tmp_path, device="cpu")
    )
    with pytest.raises(WeightsMissing, match="rapbot models pull gpu-repic"):
        generator.generate(QUERY, [BO], "Who is this?")


def test_specs() -> None:
    assert parse_repic_spec("repic:Yeongtak/RePIC_Qwen2.5VL_7B").source == "Yeongtak/RePIC_Qwen2.5VL_7B"
    assert parse_repic_spec("tiny-repic").source == ""
    for wrong in ("repic:", "repic", "tiny-repic:x"):
        with pytest.raises(RepicSpecError):
            parse_repic_spec(wrong)


def test_gpu_repic_profile_is_raps_retriever_with_repic(tmp_path: Path) -> None:
    bundle = load_bundle("gpu-repic", ModelSettings(model_dir=tmp_path))
    assert isinstance(bundle.generator, LazyGenerator) and not bundle.generator.is_built
    assert bundle.generator.spec == "repic:Yeongtak/RePIC_Qwen2.5VL_7B"
    sources = {weight.source for weight in profile_weights("gpu-repic", ModelSettings(model_dir=tmp_path))}
    assert sources == {
        "timm/vit_large_patch14_clip_336.openai",  # RAP's retriever
        "timm/vit_base_patch32_clip_224.openai",  # the detector's class names
        "yolov8x-worldv2.pt",
        "Yeongtak/RePIC_Qwen2.5VL_7B",
    }
    assert RAP_VISION_TOWER not in sources  # RePIC ships whole; nothing to convert
    assert profile_weights("tiny-repic", ModelSettings(model_dir=tmp_path)) == []


def test_models_check_gpu_repic_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPBOT_MODEL_DIR", str(tmp_path))
    app = typer.Typer()
    register(app)

    @app.command()
    def version() -> None:  # a second command, so `models` is a sub-command as in `rapbot`
        typer.echo("0")

    result = CliRunner().invoke(app, ["models", "check", "gpu-repic"])
    assert result.exit_code == 1
    assert "Yeongtak/RePIC_Qwen2.5VL_7B" in result.output
    assert "rapbot models pull gpu-repic" in result.output
