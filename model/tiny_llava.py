"""A tiny LLaVA of the real architecture (transformers' LlavaForConditionalGeneration: CLIP vision
tower + 2-layer GELU projector + Llama LM) with random, SEEDED weights and a byte-level BPE tokenizer
trained locally. Every process builds the same weights, nothing is downloaded, and it is saved with
`save_pretrained` so the real loading code (`from_pretrained`) reads it back, offline.

Used by the `tiny` profile (tests, offline smoke runs) and by training's tests."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Bump when the architecture, tokenizer or seed changes so old caches get rebuilt.
TINY_VERSION = 2
SEED = 20251122
MARKER = "rapbot_tiny.json"

IMAGE_SIZE = 56
PATCH_SIZE = 14
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # CLS dropped ("default" feature selection)
CONTEXT = 2048  # as RAP-LLaVA

# OpenAI CLIP normalisation, as the real RAP vision tower.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# The LLaVA-1.5-hf chat format ("USER: <image>\n... ASSISTANT:"), so the tiny model also serves the
# generic chat-template backend.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'][0]['text'] if message['content'] is not string "
    "else message['content'] }} {% else %}"
    "{{ message['role'].upper() }}: "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}</s>{% else %} {% endif %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

# Text the tokenizer learns its merges from: the RAP prompt's fixed parts and common words, so
# prompts tokenize to a realistic, short sequence.
_CORPUS = [
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions.",
    "USER: ASSISTANT: Name: Info: Give a personalized caption of this image.",
    "<|system|> You are a helpful AI assistant. <|end|> <|user|> <|assistant|>",
    "Is this in the image? Yes, it is. No, it is not. What is doing? Where is the dog, the cat, a person?",
    "Describe the image. The photo shows my shiba inu, my grandmother, a plush toy, a cup of coffee.",
    "bounding box [0.12, 0.34, 0.56, 0.78] the a an and of in on with is are this that photo picture",
]


def train_bpe(with_llava_tokens: bool = True) -> Any:
    """A byte-level BPE (any text tokenizes, no unknowns) with Llama's specials; `<image>` and
    `<pad>` are added last (unless `with_llava_tokens` is False: the bare LM's vocabulary), as
    LLaVA's conversion adds them after the LM's own vocabulary."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    if with_llava_tokens:
        tokenizer.add_special_tokens(["<image>", "<pad>"])
    return tokenizer


def build_tokenizer() -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=CONTEXT,
        padding_side="left",
    )


def build_processor(tokenizer: Any, image_size: int = IMAGE_SIZE) -> Any:
    """LLaVA-1.5's processor shape (CLIP preprocessing, patch 14, CLS dropped) at `image_size`
    (56 for the tiny model, 336 for a real-size one)."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token="<image>",
        chat_template=CHAT_TEMPLATE,
    )


def tiny_llava_config(vocab_size: int, image_token_id: int, pad_token_id: int, context: int = CONTEXT) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=pad_token_id,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=IMAGE_TOKENS,
    )


def build_tiny_llava_model(context: int = CONTEXT) -> tuple[Any, Any]:
    """(model, processor) in memory, identical in every process (seeded; the global RNG is left as it was)."""
    import torch
    from transformers import LlavaForConditionalGeneration

    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    config = tiny_llava_config(
        vocab_size=len(tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
        context=context,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model.eval(), processor


def is_built(directory: Path, context: int = CONTEXT) -> bool:
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return bool(marker == {"version": TINY_VERSION, "seed": SEED, "context": context})


def build_tiny_llava(directory: Path | str, context: int = CONTEXT) -> Path:
    """Build (once) and save the tiny LLaVA to `directory`; return it. Reuses a matching build.
    Written to a temporary sibling and renamed, so concurrent builders never see half a model."""
    directory = Path(directory)
    if is_built(directory, context):
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    model, processor = build_tiny_llava_model(context)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps({"version": TINY_VERSION, "seed": SEED, "context": context}))
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
        try:
            os.replace(tmp, directory)
        except OSError:
            if not is_built(directory, context):  # another process won the race with a good build
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built tiny LLaVA in %s", directory)
    return directory
