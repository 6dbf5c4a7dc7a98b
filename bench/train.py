"""Training throughput and peak memory: LoRA training (training/trainer.py, the real code path) of
the tiny LLaVA on CPU, and of a real-size LLaVA-1.5 base with random weights on CUDA when a GPU is
present. Prints samples/s and peak memory; no network or download needed.

    .venv/bin/python bench/train.py                 # tiny on CPU (plus 7b on CUDA when present)
    .venv/bin/python bench/train.py --size 7b --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Llama sizes of the LLaVA-1.5 language models (Vicuna-7B / 13B); vision tower CLIP ViT-L/14-336.
LM_SIZES: dict[str, dict[str, Any]] = {
    # LLaVA-1.5's image geometry (336 px, 576 tokens per image) with narrow layers: runs on CPU
    "small": {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 2, "num_attention_heads": 4},
    "7b": {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32},
    "13b": {"hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40, "num_attention_heads": 40},
}


def make_dataset(root: Path, samples: int) -> Path:
    """A build from real photos (skimage.data) with the release's task mix."""
    from PIL import Image
    from skimage import data

    from training.builder import DatasetBuilder
    from training.settings import BuildConfig, TaskRatios
    from training.sources import read_coco

    photos = {"chelsea.jpg": data.chelsea(), "astronaut.jpg": data.astronaut(), "coffee.jpg": data.coffee()}
    images, annotations = [], []
    boxes = {
        "chelsea.jpg": [130, 20, 200, 230],
        "astronaut.jpg": [150, 10, 200, 220],
        "coffee.jpg": [140, 80, 340, 260],
    }
    for i, (name, array) in enumerate(photos.items()):
        Image.fromarray(array).convert("RGB").save(root / name)
        images.append({"id": i, "file_name": name})
        annotations.append({"id": i, "image_id": i, "bbox": boxes[name], "category_id": 1})
    (root / "ann.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "object"}]})
    )
    per_occurrence = max(1, samples // 3 // 3)
    cfg = BuildConfig(
        seed=0,
        ratios=TaskRatios(
            recognition_positive=per_occurrence, recognition_negative=per_occurrence, grounding=per_occurrence
        ),
    )
    DatasetBuilder(cfg).build(read_coco(root / "ann.json", None, seed=0, min_crop_px=8), root / "data")
    return root / "data" / "samples.json"


def real_size_llava(directory: Path, size: str, device: str) -> Path:
    """A LLaVA-1.5 of real size (CLIP ViT-L/14-336 + Vicuna-sized Llama), random weights, saved
    with the tiny tokenizer (the vocabulary size does not change the throughput much). "small"
    keeps the image geometry (336 px, 576 tokens) with a narrow vision tower and LM."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from model.tiny_llava import CLIP_MEAN, CLIP_STD, build_tokenizer

    tokenizer = build_tokenizer()
    width: dict[str, Any] = {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
    }
    if size == "small":
        width = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}
    vision = CLIPVisionConfig(image_size=336, patch_size=14, projection_dim=768, **width)
    text = LlamaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=4096, pad_token_id=tokenizer.pad_token_id, **LM_SIZES[size]
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=576,
    )
    with torch.device(device):
        model = LlavaForConditionalGeneration(config)
    if device.startswith("cuda"):
        model = model.to(torch.bfloat16)  # type: ignore[arg-type]
    model.save_pretrained(directory)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 336},
            crop_size={"height": 336, "width": 336},
            image_mean=CLIP_MEAN,
            image_std=CLIP_STD,
        ),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token="<image>",
    )
    processor.save_pretrained(directory)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return directory


def run(size: str, steps: int, batch: int, work: Path) -> dict[str, Any]:
    import torch

    from model.tiny_llava import build_tiny_llava
    from training.settings import TrainConfig
    from training.trainer import train

    on_gpu = torch.cuda.is_available() and size not in ("tiny", "small")
    samples_json = make_dataset(work, steps * batch)
    device = "cuda" if on_gpu else "cpu"
    base = build_tiny_llava(work / "tiny") if size == "tiny" else real_size_llava(work / size, size, device)
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = train(
        TrainConfig(
            base_model=str(base),
            data=samples_json,
            output_dir=work / f"run-{size}",
            max_steps=steps,
            batch_size=batch,
            gradient_accumulation=1,
            save_steps=10**6,
            logging_steps=10**6,
            device=device,
        )
    )
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() / 2**30
        if on_gpu
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    return {
        "model": "tiny LLaVA" if size == "tiny" else f"llava-1.5 {size} (random weights)",
        "device": torch.cuda.get_device_name() if on_gpu else f"CPU ({os.cpu_count()} cores)",
        "steps": result.global_step,
        "batch": batch,
        "samples_per_s": round(result.samples_per_second or steps * batch / seconds, 2),
        "peak_memory_gib": round(peak, 2),
        "memory_kind": "CUDA max allocated" if on_gpu else "process peak RSS",
        "lora_r": 128,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["tiny", "small", "7b", "13b", "auto"], default="auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="CI size: the tiny model, 2 steps of batch 2, on CPU")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.steps, args.batch = "tiny", 2, 2
    import torch

    if args.size in ("7b", "13b") and not torch.cuda.is_available():
        parser.error(f"--size {args.size} needs a CUDA GPU (its fp32 weights alone would not fit here)")
    sizes = (["tiny"] + (["7b"] if torch.cuda.is_available() else [])) if args.size == "auto" else [args.size]
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="rapbot-bench-") as tmp:
            figures = run(size, args.steps if size == "tiny" else min(args.steps, 10), args.batch, Path(tmp))
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
