"""LoRA training on the tiny LLaVA: the loss falls, the adapter loads in model/'s generator and
changes what it computes, and a stopped run resumes from its checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from training.builder import DatasetBuilder
from training.settings import BuildConfig, TaskRatios, TrainConfig
from training.sources import read_coco

torch = pytest.importorskip("torch")

STEPS = 6


@pytest.fixture(scope="module")
def samples_json(coco_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trainset") / "data"
    cfg = BuildConfig(seed=5, ratios=TaskRatios(recognition_positive=1, recognition_negative=1, grounding=1))
    DatasetBuilder(cfg).build(read_coco(coco_set, None, seed=5, min_crop_px=8), out)
    return out / "samples.json"


def config(base: Path, data: Path, out: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "base_model": str(base),
        "data": data,
        "output_dir": out,
        "max_steps": STEPS,
        "batch_size": 4,
        "gradient_accumulation": 1,
        "learning_rate": 1e-2,  # far above the release's 1e-4: a visible change in a few steps
        "projector_learning_rate": 1e-3,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "logging_steps": 1,
        "save_steps": 2,
        "save_total_limit": None,
    }
    values.update(overrides)
    return TrainConfig(**values)


class StepRecorder:
    """A TrainerCallback that notes the global step after each optimizer step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        self.steps: list[int] = []
        recorder = self

        class _Callback(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                recorder.steps.append(state.global_step)

        self.callback = _Callback()


@pytest.fixture(scope="module")
def trained(tiny_llava_dir: Path, samples_json: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from training.trainer import train

    out = tmp_path_factory.mktemp("run") / "out"
    return out, train(config(tiny_llava_dir, samples_json, out))


def dataset_loss(model: Any, base: Path, data: Path) -> float:
    """Mean loss of `model` over the training samples, in eval mode (no dropout)."""
    from transformers import AutoProcessor

    from model.prompt import VICUNA_V1
    from training.dataset import RapCollator, RapDataset
    from training.schema import read_samples

    processor = AutoProcessor.from_pretrained(str(base))
    dataset = RapDataset(read_samples(data), data.parent, processor, VICUNA_V1, 2048)
    collate = RapCollator(processor.tokenizer.pad_token_id)
    model.eval()
    losses = []
    with torch.inference_mode():
        for start in range(0, len(dataset), 8):
            batch = collate([dataset[i] for i in range(start, min(start + 8, len(dataset)))])
            losses.append(float(model(**batch).loss))
    return sum(losses) / len(losses)


def test_labels_cover_only_the_answer(tiny_llava_dir: Path, samples_json: Path) -> None:
    from transformers import AutoProcessor

    from model.prompt import VICUNA_V1
    from training.dataset import IGNORE_INDEX, RapCollator, encode_sample
    from training.schema import read_samples

    processor = AutoProcessor.from_pretrained(str(tiny_llava_dir))
    sample = read_samples(samples_json)[0]
    item = encode_sample(sample, samples_json.parent, processor, VICUNA_V1)
    answer_ids = item["labels"][item["labels"] != IGNORE_INDEX].tolist()
    assert processor.tokenizer.decode(answer_ids) == " " + sample.conversations[1].value + "</s>"
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    n_images = 1 + len(sample.extra)
    assert int((item["input_ids"] == image_id).sum()) == n_images * 16  # 16 tokens per tiny image
    assert item["pixel_values"].shape[0] == n_images
    batch = RapCollator(processor.tokenizer.pad_token_id)(
        [item, encode_sample(read_samples(samples_json)[1], samples_json.parent, processor, VICUNA_V1)]
    )
    padded = batch["attention_mask"] == 0
    assert (batch["labels"][padded] == IGNORE_INDEX).all()
    assert (batch["labels"][batch["input_ids"] == image_id] == IGNORE_INDEX).all()


def test_lora_targets_only_the_language_model(tiny_llava_dir: Path) -> None:
    from transformers import LlavaForConditionalGeneration

    from training.trainer import lora_target_modules

    model = LlavaForConditionalGeneration.from_pretrained(str(tiny_llava_dir))
    targets = lora_target_modules(model)
    assert targets and all("language_model" in t for t in targets)
    assert {t.rsplit(".", 1)[-1] for t in targets} == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert not any("vision" in t or "projector" in t or "lm_head" in t for t in targets)


def test_training_lowers_the_loss_and_saves_what_the_generator_loads(
    trained: tuple[Path, Any], tiny_llava_dir: Path, samples_json: Path
) -> None:
    from transformers import LlavaForConditionalGeneration

    from model.generator import apply_adapter

    _, result = trained
    assert result.global_step == STEPS
    assert {"adapter_config.json", "adapter_model.safetensors", "mm_projector.safetensors"} <= {
        p.name for p in result.adapter_dir.iterdir()
    }
    base = LlavaForConditionalGeneration.from_pretrained(str(tiny_llava_dir))
    before = dataset_loss(base, tiny_llava_dir, samples_json)
    tuned = apply_adapter(LlavaForConditionalGeneration.from_pretrained(str(tiny_llava_dir)), result.adapter_dir)
    after = dataset_loss(tuned, tiny_llava_dir, samples_json)
    assert after < before - 0.1, (before, after)
    # the projector was trained too, and the saved one is what the generator loaded
    untouched = base.model.multi_modal_projector.linear_1.weight
    assert not torch.equal(tuned.model.multi_modal_projector.linear_1.weight, untouched)


def test_generator_with_the_adapter_computes_different_logits(trained: tuple[Path, Any], tiny_llava_dir: Path) -> None:
    from PIL import Image

    from model.generator import build_generator
    from model.settings import ModelSettings
    from model.types import ConceptRef

    _, result = trained
    settings = ModelSettings(profile="tiny", device="cpu", dtype="float32")
    plain = build_generator(f"rap-llava:{tiny_llava_dir}", settings)
    tuned = build_generator(f"rap-llava:{tiny_llava_dir}", settings, adapter=result.adapter_dir)
    photo = Image.new("RGB", (64, 48), (200, 120, 40))
    concept = ConceptRef(name="Zoë the cat", info="A ginger cat.", image=Image.new("RGB", (30, 30), (220, 130, 50)))
    a = plain.forward_logits(photo, [concept], "Is <Zoë the cat> in this image?")
    b = tuned.forward_logits(photo, [concept], "Is <Zoë the cat> in this image?")
    assert a.shape == b.shape
    assert float((a - b).abs().max()) > 1e-3


def test_resume_continues_from_the_checkpoint(
    trained: tuple[Path, Any], tiny_llava_dir: Path, samples_json: Path, tmp_path: Path
) -> None:
    from training.trainer import train

    full_out, _ = trained
    # A run that stopped after step 2: only its first checkpoint exists.
    out = tmp_path / "stopped"
    out.mkdir()
    shutil.copytree(full_out / "checkpoint-2", out / "checkpoint-2")
    recorder = StepRecorder()
    result = train(config(tiny_llava_dir, samples_json, out, resume=True), callbacks=[recorder.callback])
    assert recorder.steps == [3, 4, 5, 6]
    assert result.global_step == STEPS
    full = json.loads((full_out / f"checkpoint-{STEPS}/trainer_state.json").read_text())["log_history"]
    resumed = json.loads((out / f"checkpoint-{STEPS}/trainer_state.json").read_text())["log_history"]
    losses = lambda history: [round(h["loss"], 3) for h in history if "loss" in h]  # noqa: E731
    assert losses(resumed) == losses(full)  # the same run, continued


def test_resume_without_a_checkpoint_says_so(tiny_llava_dir: Path, samples_json: Path, tmp_path: Path) -> None:
    from training.trainer import TrainingError, train

    with pytest.raises(TrainingError, match="no checkpoint"):
        train(config(tiny_llava_dir, samples_json, tmp_path / "none", resume=True))


def test_precision_is_fp32_on_cpu_and_half_on_gpu() -> None:
    from training.trainer import _precision

    cfg = TrainConfig(base_model="x", data=Path("d.json"), output_dir=Path("o"))
    assert _precision(cfg, on_gpu=False) == (False, False)
    assert _precision(cfg.model_copy(update={"precision": "bf16"}), on_gpu=True) == (True, False)
    assert _precision(cfg.model_copy(update={"precision": "fp16"}), on_gpu=True) == (False, True)
    assert _precision(cfg.model_copy(update={"precision": "fp32"}), on_gpu=True) == (False, False)
