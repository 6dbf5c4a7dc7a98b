"""The generator backends on the tiny seeded LLaVA: the exact RAP prompt and its images, decoding,
context fitting, LoRA adapters and trained projectors, the chat-template backend, weight errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from PIL import Image
from tiny_vlms import BO, MAM, QUERY, TOY, build_tiny_idefics3, build_tiny_qwen2_vl, token_id

from model.generator import (
    ChatTemplateGenerator,
    Decoding,
    GeneratorSpecError,
    RapLlavaGenerator,
    TransformersGenerator,
    build_generator,
    parse_spec,
)
from model.prompt import CAPTION_QUESTION, VICUNA_V1, build_prompt
from model.settings import ModelSettings
from model.tiny_llava import IMAGE_TOKENS, build_tiny_llava, build_tiny_llava_model
from model.types import ConceptRef
from model.weights import WeightsMissing

QUESTION = "What is <bo> doing?"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ModelSettings:
    return ModelSettings(model_dir=tmp_path_factory.mktemp("models"), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def tiny(settings: ModelSettings) -> RapLlavaGenerator:
    generator = build_generator("tiny", settings)
    assert isinstance(generator, RapLlavaGenerator)
    return generator


def _image_tokens(generator: TransformersGenerator, inputs: dict[str, torch.Tensor]) -> int:
    config = generator.loaded.model.config
    image_token = getattr(config, "image_token_index", None) or config.image_token_id
    return int((inputs["input_ids"] == image_token).sum())


# ---- the tiny model --------------------------------------------------------------------------


def test_tiny_llava_is_seeded_and_cached(tmp_path: Path, settings: ModelSettings, tiny: RapLlavaGenerator) -> None:
    tiny.load()
    built = settings.model_dir / "tiny-llava"
    weights = (built / "model.safetensors").read_bytes()
    torch.rand(100)  # a caller's random state must not change the weights
    again = build_tiny_llava(tmp_path / "again")
    assert (again / "model.safetensors").read_bytes() == weights
    before = (built / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_llava(built) == built
    assert (built / "model.safetensors").stat().st_mtime_ns == before  # reused, not rebuilt


def test_tiny_llava_loads_offline_with_the_real_loading_code(settings: ModelSettings) -> None:
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    directory = build_tiny_llava(settings.model_dir / "tiny-llava")
    model = LlavaForConditionalGeneration.from_pretrained(directory)
    processor = AutoProcessor.from_pretrained(directory)
    fresh, _ = build_tiny_llava_model()
    digest = [hashlib.sha256(t.numpy().tobytes()).hexdigest() for t in model.state_dict().values()]
    assert digest == [hashlib.sha256(t.numpy().tobytes()).hexdigest() for t in fresh.state_dict().values()]
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_index


# ---- the RAP prompt and images -------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_one_image_of_tokens_per_image_passed(tiny: RapLlavaGenerator, count: int) -> None:
    concepts = [BO, MAM, TOY][:count]
    prepared = tiny.prepare(QUERY, concepts, CAPTION_QUESTION)
    assert prepared.inputs["pixel_values"].shape[0] == count + 1
    assert _image_tokens(tiny, prepared.inputs) == (count + 1) * IMAGE_TOKENS


def test_text_only_question_passes_only_concept_images(tiny: RapLlavaGenerator) -> None:
    prepared = tiny.prepare(None, [TOY], "What does <toy1> look like?")
    assert prepared.inputs["pixel_values"].shape[0] == 1
    assert _image_tokens(tiny, prepared.inputs) == IMAGE_TOKENS
    assert " USER: [1.<image>\n Name: <toy1>, Info: an orange plush toy\n]What does <toy1> look like? ASSISTANT:" in (
        prepared.prompt
    )


def test_generation_uses_the_exact_rap_prompt(tiny: RapLlavaGenerator) -> None:
    result = tiny.generate(QUERY, [BO, MAM], QUESTION, max_new_tokens=5, temperature=0)
    assert result.prompt == build_prompt(VICUNA_V1, QUERY, [BO, MAM], QUESTION).text
    assert result.used == ["bo", "mam"] and result.dropped == []
    assert isinstance(result.text, str)


def test_query_image_is_padded_to_square_with_the_mean_colour(tiny: RapLlavaGenerator) -> None:
    wide = Image.new("RGB", (200, 50), (255, 255, 255))
    pixels = tiny.prepare(wide, [], CAPTION_QUESTION).inputs["pixel_values"][0]
    # Padding is the processor's mean colour, which normalises to ~0; the white photo to ~+1.9.
    assert pixels[:, 0, :].abs().max() < 0.02
    assert pixels[:, pixels.shape[1] // 2, :].min() > 1.5


def test_concept_order_follows_retrieval_order(tiny: RapLlavaGenerator) -> None:
    first = tiny.prepare(QUERY, [BO, MAM], QUESTION).inputs["pixel_values"]
    swapped = tiny.prepare(QUERY, [MAM, BO], QUESTION).inputs["pixel_values"]
    assert torch.equal(first[0], swapped[0])  # the query image always comes first
    assert torch.equal(first[1], swapped[2]) and torch.equal(first[2], swapped[1])


# ---- decoding --------------------------------------------------------------------------------


def test_greedy_is_repeatable_and_seeded_sampling_reproduces(tiny: RapLlavaGenerator) -> None:
    greedy = [tiny.generate(QUERY, [BO], QUESTION, max_new_tokens=8, temperature=0).text for _ in range(2)]
    assert greedy[0] == greedy[1]
    seeded = [tiny.generate(QUERY, [BO], QUESTION, max_new_tokens=8, temperature=5.0, seed=3).text for _ in range(2)]
    assert seeded[0] == seeded[1]
    others = {tiny.generate(QUERY, [BO], QUESTION, max_new_tokens=8, temperature=5.0, seed=s).text for s in range(4, 8)}
    assert len(others | {seeded[0]}) > 1  # hot sampling with other seeds gives other answers


def test_deterministic_setting_means_greedy(settings: ModelSettings, tiny: RapLlavaGenerator) -> None:
    strict = RapLlavaGenerator(
        "tiny", settings=settings, decoding=Decoding(temperature=5.0, max_new_tokens=8, deterministic=True)
    )
    greedy = tiny.generate(QUERY, [BO], QUESTION, max_new_tokens=8, temperature=0).text
    assert strict.generate(QUERY, [BO], QUESTION).text == greedy
    assert strict.generate(QUERY, [BO], QUESTION, temperature=5.0).text == greedy


# ---- context fitting -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_context(tmp_path_factory: pytest.TempPathFactory, settings: ModelSettings) -> RapLlavaGenerator:
    # Room for the query, two concept images and the text, but not three.
    directory = build_tiny_llava(tmp_path_factory.mktemp("ctx") / "tiny-ctx", context=200)
    return RapLlavaGenerator(str(directory), settings=settings)


def test_overflow_drops_the_weakest_concepts_and_answers(small_context: RapLlavaGenerator) -> None:
    result = small_context.generate(QUERY, [MAM, TOY, BO], QUESTION, max_new_tokens=12, temperature=0)
    assert result.dropped == ["mam"]  # lowest score first; TOY (named in text, no score) is kept
    assert result.used == ["toy1", "bo"]
    prepared = small_context.prepare(QUERY, [MAM, TOY, BO], QUESTION, max_new_tokens=12)
    assert prepared.inputs["input_ids"].shape[-1] + prepared.max_new_tokens <= 200
    assert _image_tokens(small_context, prepared.inputs) == 3 * IMAGE_TOKENS


def test_the_answer_budget_shrinks_before_concepts_are_dropped(small_context: RapLlavaGenerator) -> None:
    prepared = small_context.prepare(QUERY, [BO], QUESTION, max_new_tokens=100)
    assert [c.name for c in prepared.used] == ["bo"]
    assert prepared.max_new_tokens < 100
    assert prepared.inputs["input_ids"].shape[-1] + prepared.max_new_tokens == 200


def test_named_concepts_go_last_latest_first(small_context: RapLlavaGenerator) -> None:
    named = [ConceptRef(f"c{i}", "a thing named in the text", TOY.image) for i in range(5)]
    result = small_context.generate(None, named, "Tell me about them.", max_new_tokens=10, temperature=0)
    assert result.used == [c.name for c in named[: len(result.used)]]
    assert result.dropped == [c.name for c in reversed(named[len(result.used) :])]
    assert result.dropped


def test_a_question_longer_than_the_context_is_cut_not_crashed(small_context: RapLlavaGenerator) -> None:
    question = "why is the sky blue and the grass green? " * 100
    result = small_context.generate(QUERY, [BO], question, max_new_tokens=20, temperature=0)
    assert result.dropped == ["bo"]
    assert len(result.prompt) < len(question)
    assert result.prompt.count("why is the sky") >= 1


# ---- adapters --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory, settings: ModelSettings) -> Path:
    """A LoRA adapter with nonzero weights and a retrained projector, saved as training saves them."""
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file

    model, _ = build_tiny_llava_model()
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=r".*language_model.*\.(q_proj|v_proj)", init_lora_weights=False
    )
    torch.manual_seed(1)
    peft_model = get_peft_model(model, config)
    directory = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(str(directory))
    projector = model.model.multi_modal_projector.state_dict()
    save_file({k: v + 0.5 for k, v in projector.items()}, str(directory / "mm_projector.safetensors"))
    return directory


@pytest.fixture(scope="module")
def lora_only_dir(adapter_dir: Path) -> Path:
    import shutil

    directory = adapter_dir.parent / "lora-only"
    shutil.copytree(adapter_dir, directory, ignore=shutil.ignore_patterns("mm_projector.safetensors"))
    return directory


def test_lora_adapter_changes_the_logits(settings: ModelSettings, tiny: RapLlavaGenerator, lora_only_dir: Path) -> None:
    adapted = build_generator("tiny", settings, adapter=lora_only_dir)
    base = tiny.forward_logits(None, [], "What does <bo> like?")  # no image: only the LM differs
    changed = adapted.forward_logits(None, [], "What does <bo> like?")
    assert base.shape == changed.shape
    assert not torch.allclose(base, changed)


def test_projector_beside_adapter_is_loaded(
    settings: ModelSettings, tiny: RapLlavaGenerator, adapter_dir: Path, lora_only_dir: Path
) -> None:
    without = build_generator("tiny", settings, adapter=lora_only_dir)
    with_projector = build_generator("tiny", settings.model_copy(update={"generator_adapter": adapter_dir}))
    projector = with_projector.loaded.model.model.multi_modal_projector.state_dict()
    base_projector = tiny.loaded.model.model.multi_modal_projector.state_dict()
    assert torch.allclose(projector["linear_1.bias"], base_projector["linear_1.bias"] + 0.5)
    assert not torch.allclose(
        without.forward_logits(QUERY, [], CAPTION_QUESTION), with_projector.forward_logits(QUERY, [], CAPTION_QUESTION)
    )


def test_missing_adapter_is_a_clear_error(settings: ModelSettings, tmp_path: Path) -> None:
    generator = build_generator("tiny", settings, adapter=tmp_path / "no-such-adapter")
    with pytest.raises(WeightsMissing, match="no-such-adapter"):
        generator.load()


# ---- the chat-template backend -------------------------------------------------------------------


def test_chat_template_backend_boxes_the_query_and_shows_references(
    tiny: RapLlavaGenerator, settings: ModelSettings
) -> None:
    directory = build_tiny_llava(settings.model_dir / "tiny-llava")
    generator = build_generator(f"hf:{directory}", settings)
    assert isinstance(generator, ChatTemplateGenerator)
    result = generator.generate(QUERY, [BO, TOY], QUESTION, max_new_tokens=6, temperature=0)
    assert "box 1 is <bo>" in result.prompt and "box 2" not in result.prompt  # TOY was named, not found
    assert "1. <bo>: my shiba inu, loves chicken" in result.prompt and "2. <toy1>: an orange plush toy" in result.prompt
    assert result.used == ["bo", "toy1"]
    prepared = generator.prepare(QUERY, [BO, TOY], QUESTION)
    assert _image_tokens(generator, prepared.inputs) == 3 * IMAGE_TOKENS
    # The query image (last) is the boxed one: it differs from the plain query's pixels.
    plain = generator.prepare(QUERY, [TOY], QUESTION).inputs["pixel_values"][-1]
    assert not torch.equal(prepared.inputs["pixel_values"][-1], plain)


# ---- specs and weights ---------------------------------------------------------------------------


def test_unknown_spec_explains_the_choices() -> None:
    with pytest.raises(GeneratorSpecError, match="rap-llava:<dir or hub id>"):
        parse_spec("llava13b")
    with pytest.raises(GeneratorSpecError):
        parse_spec("hf:")
    assert parse_spec("rap-phi3:Hoar012/RAP-Phi3-mini").source == "Hoar012/RAP-Phi3-mini"


def test_missing_weights_offline_name_the_weight_and_the_pull_command(tmp_path: Path) -> None:
    settings = ModelSettings(model_dir=tmp_path, device="cpu")
    generator = build_generator("rap-llava:Hoar012/RAP-LLaVA-13b", settings)
    assert generator.max_concepts == 2
    with pytest.raises(WeightsMissing, match=r"Hoar012/RAP-LLaVA-13b.*rapbot models pull"):
        generator.load()


def test_model_dir_is_searched_by_name(tmp_path: Path) -> None:
    build_tiny_llava(tmp_path / "RAP-Phi3-mini")
    generator = build_generator("rap-phi3:Hoar012/RAP-Phi3-mini", ModelSettings(model_dir=tmp_path, device="cpu"))
    assert generator.max_concepts == 3
    result = generator.generate(QUERY, [BO], CAPTION_QUESTION, max_new_tokens=4, temperature=0)
    assert result.prompt.startswith("<|system|>\nYou are a helpful AI assistant.<|end|>\n<|user|>\n<image>\n[1.<image>")


@pytest.fixture(scope="module")
def tiny_idefics3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_idefics3(tmp_path_factory.mktemp("smolvlm"))


@pytest.fixture(scope="module")
def tiny_qwen2_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("qwen2vl"))


def test_chat_template_backend_runs_a_smolvlm_architecture(tiny_idefics3: Path, settings: ModelSettings) -> None:
    generator = build_generator(f"hf:{tiny_idefics3}", settings)
    result = generator.generate(QUERY, [BO, MAM], QUESTION, max_new_tokens=5, temperature=0)
    assert result.prompt.startswith("<|im_start|>User: These are the user's own things")
    assert "box 1 is <bo>, box 2 is <mam>" in result.prompt
    assert result.prompt.endswith("<end_of_utterance>\nAssistant:")
    prepared = generator.prepare(QUERY, [BO, MAM], QUESTION)
    assert prepared.inputs["pixel_values"].shape[1] == 3  # two references and the boxed query
    assert _image_tokens(generator, prepared.inputs) == 3 * 4
    text_only = generator.generate(None, [], "What day is it?", max_new_tokens=3, temperature=0)
    assert text_only.used == [] and "<image>" not in text_only.prompt


def test_chat_template_backend_fits_a_small_context(tiny_idefics3: Path, settings: ModelSettings) -> None:
    generator = build_generator(f"hf:{tiny_idefics3}", settings)
    many = [ConceptRef(f"thing{i}", "a long description of a thing " * 4, TOY.image, score=i / 10) for i in range(12)]
    result = generator.generate(QUERY, many, QUESTION, max_new_tokens=20, temperature=0)
    assert result.dropped and result.dropped[0] == "thing0"  # the weakest goes first
    assert len(result.used) + len(result.dropped) == 12
    assert generator.prepare(QUERY, many, QUESTION, 20).inputs["input_ids"].shape[-1] <= 512


def test_odd_photos_are_answered(tiny: RapLlavaGenerator) -> None:
    transparent = Image.new("RGBA", (30, 90), (10, 20, 30, 0))
    grey = Image.new("L", (1, 1), 128)
    palette = Image.new("P", (300, 20))
    concepts = [ConceptRef("a", "grey", grey, score=0.5), ConceptRef("b", "palette", palette, score=0.4)]
    result = tiny.generate(transparent, concepts, CAPTION_QUESTION, max_new_tokens=3, temperature=0)
    assert result.used == ["a", "b"]
    assert tiny.prepare(transparent, concepts, CAPTION_QUESTION).inputs["pixel_values"].shape == (3, 3, 56, 56)


def test_prompt_pieces_are_tokenized_apart_as_llava_trained() -> None:
    """LLaVA tokenized the text between <image> placeholders piece by piece; with a SentencePiece-
    style tokenizer (a prefix space at the start of every piece) that differs from tokenizing the
    whole prompt at once, and the released weights expect LLaVA's way."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import CLIPImageProcessor, LlavaProcessor, PreTrainedTokenizerFast

    from model.generator import image_tokens_per_image, llava_tokenize

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    raw.train_from_iterator(["Name: Info: hello world\n[1."] * 3, trainers.BpeTrainer(special_tokens=["<unk>", "<s>"]))
    raw.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    raw.add_special_tokens(["<image>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", unk_token="<unk>")
    image_processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14)
    image_id = token_id(tokenizer, "<image>")
    assert image_tokens_per_image(processor) == 4

    ids = llava_tokenize(processor, "hello <image>\n[1.<image>\n Name: world", image_id)["input_ids"][0].tolist()
    pieces = ["hello ", "\n[1.", "\n Name: world"]
    expected = tokenizer(pieces[0])["input_ids"]
    for piece in pieces[1:]:
        expected += [image_id] * 4 + tokenizer(piece)["input_ids"][1:]
    assert ids == expected
    assert ids.count(tokenizer.bos_token_id) == 1
    whole = tokenizer("hello <image>\n[1.<image>\n Name: world")["input_ids"]
    assert [i for i in ids if i != image_id] != [i for i in whole if i != image_id]  # the pieces got prefix spaces


def test_chat_template_backend_runs_a_qwen2_vl_architecture(tiny_qwen2_vl: Path, settings: ModelSettings) -> None:
    generator = build_generator(f"hf:{tiny_qwen2_vl}", settings)
    result = generator.generate(QUERY, [BO], QUESTION, max_new_tokens=5, temperature=0)
    assert result.used == ["bo"] and "box 1 is <bo>" in result.prompt
    assert result.prompt.endswith("<|im_start|>assistant\n")
    small = _image_tokens(generator, generator.prepare(QUERY, [], QUESTION).inputs)
    large = _image_tokens(generator, generator.prepare(QUERY.resize((360, 240)), [], QUESTION).inputs)
    assert 0 < small < large  # dynamic resolution: a bigger photo costs more tokens, and they are counted


def test_on_cpu_each_image_is_one_tile_so_smolvlm_answers_in_seconds(
    tiny_idefics3: Path, settings: ModelSettings, tmp_path: Path
) -> None:
    import json
    import shutil

    splitting = tmp_path / "splitting"
    shutil.copytree(tiny_idefics3, splitting)
    config_path = splitting / "preprocessor_config.json"
    if not config_path.exists():  # newer transformers keep it inside processor_config.json
        config_path = splitting / "processor_config.json"
    config = json.loads(config_path.read_text())
    image_config = config.get("image_processor", config)
    image_config.update(do_image_splitting=True, size={"longest_edge": 128})
    config_path.write_text(json.dumps(config))

    generator = build_generator(f"hf:{splitting}", settings.model_copy(update={"device": "cpu"}))
    prepared = generator.prepare(QUERY, [BO, MAM], QUESTION)

    # With splitting, a 128 px image would become 4 tiles plus a global view: 15 images, not 3.
    assert prepared.inputs["pixel_values"].shape[1] == 3
