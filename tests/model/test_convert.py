"""The RAP checkpoint converter: a tiny LLaVA written in the ORIGINAL LLaVA code layout (as
RAP-LLaVA-13b / RAP-Phi3-mini ship) converts into transformers' Llava format with identical logits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from model.convert import ConversionError, convert_rap
from model.generator import RapLlavaGenerator, build_generator
from model.prompt import PHI3, VICUNA_V1
from model.settings import ModelSettings
from model.tiny_llava import build_processor, build_tokenizer, train_bpe
from model.types import ConceptRef

IMAGE_SIZE = 56


def _tiny_llava(language: str) -> Any:
    """A tiny Llava with a Llama or Phi-3 LM, built here independently of model/tiny_llava.py's model."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, Phi3Config

    tokenizer = build_tokenizer()
    text_fields = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    text = (
        LlamaConfig(max_position_embeddings=2048, **text_fields)
        if language == "llama"
        else Phi3Config(max_position_embeddings=4096, original_max_position_embeddings=4096, **text_fields)
    )
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=14,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=16,
    )
    torch.manual_seed(7)
    return LlavaForConditionalGeneration(config).eval()


def _write_original(model: Any, directory: Path, language: str, vision_inside: bool, clip_dir: Path) -> int:
    """Write `model` as the original LLaVA code saves it (2 safetensors shards, mm_* config, the LM's
    tokenizer without <image>/<pad>); returns the LM's own vocabulary size."""
    from transformers import PreTrainedTokenizerFast

    directory.mkdir(parents=True)
    base_tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(with_llava_tokens=False), bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    base_tokenizer.save_pretrained(directory)
    vocab = len(base_tokenizer)
    weights: dict[str, torch.Tensor] = {}
    vision: dict[str, torch.Tensor] = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("model.vision_tower."):
            vision[key.removeprefix("model.vision_tower.")] = tensor.clone()
            continue
        if key.startswith("model.language_model."):
            new = "model." + key.removeprefix("model.language_model.")
        elif key.startswith("model.multi_modal_projector.linear_1."):
            new = "model.mm_projector.0." + key.removeprefix("model.multi_modal_projector.linear_1.")
        elif key.startswith("model.multi_modal_projector.linear_2."):
            new = "model.mm_projector.2." + key.removeprefix("model.multi_modal_projector.linear_2.")
        else:
            assert key == "lm_head.weight", key
            new = key
        if new in ("model.embed_tokens.weight", "lm_head.weight"):
            tensor = tensor[:vocab]  # the LM knows no <image> or <pad> yet
        weights[new] = tensor.clone().contiguous()
    if vision_inside:
        weights.update({f"model.vision_tower.vision_tower.vision_model.{k}": v for k, v in vision.items()})
    keys = sorted(weights)
    shards = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    weight_map = {}
    for number, shard in enumerate(shards, start=1):
        name = f"model-{number:05d}-of-00002.safetensors"
        save_file({k: weights[k] for k in shard}, str(directory / name))
        weight_map.update(dict.fromkeys(shard, name))
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))

    text = model.config.text_config.to_dict()
    config = {k: v for k, v in text.items() if k not in ("model_type", "architectures", "transformers_version")}
    config.update(
        architectures=["LlavaLlamaForCausalLM" if language == "llama" else "LlavaPhiForCausalLM"],
        model_type="llava_llama" if language == "llama" else "llava_phi",
        vocab_size=vocab,
        mm_hidden_size=32,
        mm_projector_type="mlp2x_gelu",
        mm_vision_select_layer=-2,
        mm_vision_select_feature="patch",
        mm_vision_tower=str(clip_dir),
        mm_use_im_start_end=False,
        image_aspect_ratio="pad",
        tokenizer_model_max_length=2048,
    )
    (directory / "config.json").write_text(json.dumps(config))
    # The CLIP checkpoint (as openai/clip-vit-large-patch14-336 ships it: vision_model.* keys).
    if not clip_dir.exists():
        clip_dir.mkdir(parents=True)
        model.config.vision_config.save_pretrained(clip_dir)
        build_processor(build_tokenizer()).image_processor.save_pretrained(clip_dir)
        save_file({f"vision_model.{k}": v.contiguous() for k, v in vision.items()}, str(clip_dir / "model.safetensors"))
    return vocab


def _reference_generator(model: Any, directory: Path, template: Any, settings: ModelSettings) -> RapLlavaGenerator:
    model.save_pretrained(directory)
    build_processor(build_tokenizer()).save_pretrained(directory)
    return RapLlavaGenerator(str(directory), template=template, settings=settings)


def _inputs() -> tuple[Image.Image, list[ConceptRef]]:
    query = Image.linear_gradient("L").convert("RGB").resize((90, 60))
    concept = ConceptRef("bo", "my shiba inu", Image.new("RGB", (40, 70), (200, 120, 30)), score=0.9)
    return query, [concept]


@pytest.mark.parametrize(
    ("language", "vision_inside"),
    [("llama", False), ("phi3", True)],
    ids=["rap-llava-layout-separate-clip", "rap-phi3-layout-clip-inside"],
)
def test_converted_checkpoint_gives_identical_logits(tmp_path: Path, language: str, vision_inside: bool) -> None:
    settings = ModelSettings(model_dir=tmp_path / "models", device="cpu", dtype="float32")
    template = VICUNA_V1 if language == "llama" else PHI3
    model = _tiny_llava(language)
    original = tmp_path / "RAP-original"
    vocab = _write_original(model, original, language, vision_inside, tmp_path / "clip")
    reference = _reference_generator(model, tmp_path / "reference", template, settings)

    if language == "llama":  # through the generator: an original-layout dir is converted on first load
        converted = build_generator(f"rap-llava:{original}", settings)
    else:
        convert_rap(original, tmp_path / "converted", settings=settings)
        converted = RapLlavaGenerator(str(tmp_path / "converted"), template=template, settings=settings)

    query, concepts = _inputs()
    expected = reference.prepare(query, concepts, "What is <bo> doing?").inputs
    actual = converted.prepare(query, concepts, "What is <bo> doing?").inputs
    assert torch.equal(expected["input_ids"], actual["input_ids"])
    logits_ref = reference.forward_logits(query, concepts, "What is <bo> doing?")
    logits_new = converted.forward_logits(query, concepts, "What is <bo> doing?")
    torch.testing.assert_close(logits_new[..., :vocab], logits_ref[..., :vocab], rtol=0, atol=0)
    text_ref = reference.generate(None, concepts, "What does <bo> like?", max_new_tokens=6, temperature=0)
    assert converted.loaded.model.config.text_config.model_type == language
    assert text_ref.used == ["bo"]


def test_conversion_writes_llava_format_with_image_token(tmp_path: Path) -> None:
    model = _tiny_llava("llama")
    original = tmp_path / "orig"
    vocab = _write_original(model, original, "llama", True, tmp_path / "clip")
    out = convert_rap(original, tmp_path / "out", settings=ModelSettings(model_dir=tmp_path))
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llava"
    assert config["image_token_index"] == vocab  # appended after the LM's vocabulary
    assert config["text_config"]["vocab_size"] == vocab + 2  # <image> and <pad>
    assert config["vision_feature_layer"] == -2 and config["vision_feature_select_strategy"] == "default"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert "multi_modal_projector.linear_2.weight" in index["weight_map"]
    assert all((out / name).is_file() for name in set(index["weight_map"].values()))


def test_refuses_a_checkpoint_that_is_not_original_layout(tmp_path: Path) -> None:
    reference = tmp_path / "ref"
    _tiny_llava("llama").save_pretrained(reference)
    with pytest.raises(ConversionError, match="not in the original LLaVA layout"):
        convert_rap(reference, tmp_path / "out")
    with pytest.raises(ConversionError, match=r"no config\.json"):
        convert_rap(tmp_path / "nothing", tmp_path / "out2")


def test_missing_clip_tower_offline_names_it(tmp_path: Path) -> None:
    from model.weights import WeightsMissing

    model = _tiny_llava("llama")
    original = tmp_path / "orig"
    _write_original(model, original, "llama", False, tmp_path / "clip")
    with pytest.raises(WeightsMissing, match="clip-vit-large-patch14-336"):
        convert_rap(
            original,
            tmp_path / "out",
            vision_tower="openai/clip-vit-large-patch14-336",
            settings=ModelSettings(model_dir=tmp_path / "empty"),
        )


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path) -> None:
    original = tmp_path / "orig"
    _write_original(_tiny_llava("llama"), original, "llama", True, tmp_path / "clip")
    for file in original.glob("tokenizer*"):
        file.unlink()
    with pytest.raises(ConversionError, match="Could not load the tokenizer"):
        convert_rap(original, tmp_path / "out")
