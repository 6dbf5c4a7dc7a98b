"""A tiny Qwen2.5-VL of the real architecture (transformers' Qwen2_5_VLForConditionalGeneration:
windowed ViT with 2x2 patch merging + Qwen2 LM with multimodal RoPE) with random, SEEDED weights,
a byte-level BPE tokenizer trained locally with Qwen's special tokens, and Qwen2.5-VL's processor
and chat template. Nothing is downloaded; it is saved with `save_pretrained` so the real loading
code reads it back, offline.

Used by the `tiny-repic` profile: the RePIC generator's code path on a model that runs anywhere."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from model.tiny_llava import train_bpe

log = logging.getLogger(__name__)

# Bump when the architecture, tokenizer or seed changes so old caches get rebuilt.
TINY_QWEN_VERSION = 1
SEED = 20251129
MARKER = "rapbot_tiny_qwen.json"
CONTEXT = 4096
# A photo becomes at most 16 visual tokens (64 patches of 14 px, merged 2x2): small and fast.
MAX_PIXELS = 28 * 28 * 16
MIN_PIXELS = 28 * 28 * 4

# Qwen2-VL / Qwen2.5-VL-Instruct's chat template as released (chat_template.json): a default
# system turn when the conversation has none, each image as <|vision_start|><|image_pad|><|vision_end|>.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

QWEN_SPECIALS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
PAD_TOKEN = "<|endoftext|>"


def build_tokenizer() -> Any:
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(with_llava_tokens=False),
        eos_token="<|im_end|>",
        unk_token="<unk>",
        model_max_length=CONTEXT,
        padding_side="left",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIALS), "pad_token": PAD_TOKEN})
    return tokenizer


def build_processor(tokenizer: Any) -> Any:
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
    )


def tiny_qwen_config(tokenizer: Any) -> Any:
    from transformers import Qwen2_5_VLConfig

    def token(text: str) -> int:
        found = tokenizer.convert_tokens_to_ids(text)
        assert isinstance(found, int)
        return found

    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "window_size": 56,
        "fullatt_block_indexes": [1],
        "out_hidden_size": 32,
    }
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": CONTEXT,
        # head_dim 16: 8 rotary frequencies split over (time, height, width)
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,  # Qwen's tokenizer adds no BOS
        "eos_token_id": tokenizer.eos_token_id,
    }
    return Qwen2_5_VLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=token("<|image_pad|>"),
        video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
    )


def build_tiny_qwen_model() -> tuple[Any, Any]:
    """(model, processor) in memory, identical in every process (seeded; the global RNG is left as it was)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    config = tiny_qwen_config(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval(), processor


def _marker() -> dict[str, int]:
    return {"version": TINY_QWEN_VERSION, "seed": SEED}


def is_built(directory: Path) -> bool:
    try:
        return bool(json.loads((directory / MARKER).read_text()) == _marker())
    except (OSError, ValueError):
        return False


def build_tiny_qwen(directory: Path | str) -> Path:
    """Build (once) and save the tiny Qwen2.5-VL to `directory`; return it. Reuses a matching
    build. Written to a temporary sibling and renamed, so concurrent builders never see half a model."""
    directory = Path(directory)
    if is_built(directory):
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    model, processor = build_tiny_qwen_model()
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(_marker()))
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
        try:
            os.replace(tmp, directory)
        except OSError:
            if not is_built(directory):  # another process won the race with a good build
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("built tiny Qwen2.5-VL in %s", directory)
    return directory
