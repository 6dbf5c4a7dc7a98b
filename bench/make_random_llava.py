"""Save a LLaVA-1.5-shaped generator with random weights, for benchmarks of the real sizes without
any download: transformers' LlavaForConditionalGeneration with a CLIP ViT-L/14-336 vision tower
(576 image tokens), LLaVA-1.5's 2-layer GELU projector and a Llama text model of 7B or 13B shape
(vocabulary 32064: `<image>` = 32000, `<pad>` = 32001, as llava-1.5-hf). The tokenizer is the tiny
LLaVA's byte-level BPE (model/tiny_llava.py) with its vocabulary filled up to the model's, so every
id the random model can emit decodes; the processor is LLaVA-1.5's (336 px, CLIP normalisation).
Weights are created directly on the GPU in bf16 (seconds for 13B), then saved with
`save_pretrained`, so `RAPBOT_GENERATOR=rap-llava:<dir>` and `vllm serve <dir>` load it as they
would a real checkpoint.

    .venv/bin/python bench/make_random_llava.py --size 13b /tmp/llava-13b-random   # GPU, ~26 GB
    .venv/bin/python bench/make_random_llava.py --size tiny /tmp/llava-tiny-random # CPU dry run

An existing directory with the same marker is reused (pass --force to rebuild).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MARKER = "rapbot_random_llava.json"
VERSION = 1
SEED = 20251201
LLAMA_VOCAB = 32000  # Llama-2's; <image> and <pad> come next, then padding to a multiple of 64
MODEL_VOCAB = 32064
IMAGE_TOKEN_ID = 32000
PAD_TOKEN_ID = 32001
IMAGE_SIZE = 336
PATCH_SIZE = 14


@dataclass(frozen=True)
class Shape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    vision_hidden: int
    vision_intermediate: int
    vision_layers: int
    vision_heads: int
    context: int


SHAPES: dict[str, Shape] = {
    # LLaVA-1.5-13B: Vicuna-13B (Llama-2-13B shape) + CLIP ViT-L/14-336.
    "13b": Shape(5120, 13824, 40, 40, 1024, 4096, 24, 16, 4096),
    "7b": Shape(4096, 11008, 32, 32, 1024, 4096, 24, 16, 4096),
    # The same graph and processor (336 px, 576 image tokens), tiny widths: a CPU dry run.
    "tiny": Shape(64, 128, 2, 2, 32, 64, 2, 2, 4096),
}


def build_tokenizer() -> Any:
    """The tiny LLaVA's BPE, its vocabulary filled with unreachable tokens up to MODEL_VOCAB."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from model.tiny_llava import train_bpe

    data = json.loads(train_bpe(with_llava_tokens=False).to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    if max(vocab.values()) >= LLAMA_VOCAB:
        raise RuntimeError("the tiny BPE grew past Llama's vocabulary size")
    filler = 0
    for token_id in range(len(vocab), MODEL_VOCAB):
        if token_id == IMAGE_TOKEN_ID:
            vocab["<image>"] = token_id
        elif token_id == PAD_TOKEN_ID:
            vocab["<pad>"] = token_id
        else:
            vocab[f"<unused{filler}>"] = token_id  # never produced by a merge; decodes as itself
            filler += 1
    tokenizer = Tokenizer.from_str(json.dumps(data))
    tokenizer.add_special_tokens(["<image>", "<pad>"])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=2048,  # LLaVA-1.5's training length
        padding_side="left",
    )
    ids = fast.convert_tokens_to_ids(["<image>", "<pad>"])
    if ids != [IMAGE_TOKEN_ID, PAD_TOKEN_ID] or len(fast) != MODEL_VOCAB:
        raise RuntimeError(f"tokenizer layout is off: <image>/<pad> = {ids}, {len(fast)} tokens")
    return fast


def build_processor(tokenizer: Any) -> Any:
    from model.tiny_llava import build_processor as llava_processor

    return llava_processor(tokenizer, image_size=IMAGE_SIZE)


def llava_config(shape: Shape) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=shape.vision_hidden,
        intermediate_size=shape.vision_intermediate,
        num_hidden_layers=shape.vision_layers,
        num_attention_heads=shape.vision_heads,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=768,
        hidden_act="quick_gelu",
    )
    text = LlamaConfig(
        vocab_size=MODEL_VOCAB,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=shape.context,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=PAD_TOKEN_ID,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=IMAGE_TOKEN_ID,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
    )


def marker_of(size: str, dtype: str) -> dict[str, Any]:
    return {"version": VERSION, "seed": SEED, "size": size, "dtype": dtype, "shape": asdict(SHAPES[size])}


def is_built(directory: Path, size: str, dtype: str) -> bool:
    try:
        return bool(json.loads((directory / MARKER).read_text()) == marker_of(size, dtype))
    except (OSError, ValueError):
        return False


def make(directory: Path, size: str, device: str, dtype_name: str, force: bool = False) -> Path:
    import torch
    from transformers import LlavaForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if not force and is_built(directory, size, dtype_name):
        print(f"{directory}: a random {size} LLaVA is already there")
        return directory
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype_name]
    start = time.perf_counter()
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    config = llava_config(SHAPES[size])
    torch.manual_seed(SEED)
    if device.startswith("cuda"):
        torch.cuda.manual_seed_all(SEED)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):  # parameters are created (and initialised) on the device directly
            model: Any = LlavaForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model = model.to(dtype).eval()
    model.generation_config.pad_token_id = PAD_TOKEN_ID
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    params = sum(p.numel() for p in model.parameters())
    built = time.perf_counter() - start
    print(f"built a random {size} LLaVA ({params / 1e9:.2f} B parameters, {dtype_name}) on {device} in {built:.1f} s")

    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        model.save_pretrained(tmp, max_shard_size="5GB")
        processor.save_pretrained(tmp)
        (tmp / MARKER).write_text(json.dumps(marker_of(size, dtype_name)))
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    print(f"saved to {directory} in {time.perf_counter() - start - built:.1f} s")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="directory to write (transformers Llava format)")
    parser.add_argument("--size", choices=sorted(SHAPES), default="13b")
    parser.add_argument("--device", default=None, help="where to initialise (default: cuda if present, else cpu)")
    parser.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], default=None)
    parser.add_argument("--force", action="store_true", help="rebuild even when the directory matches")
    parser.add_argument("--smoke", action="store_true", help="CI size: the tiny shape, float32, on CPU")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.device, args.dtype = "tiny", "cpu", "float32"

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    if args.size != "tiny" and not device.startswith("cuda"):
        print(f"warning: a {args.size} model on {device} takes a long time and much memory", file=sys.stderr)
    make(args.out, args.size, device, dtype, force=args.force)


if __name__ == "__main__":
    main()
