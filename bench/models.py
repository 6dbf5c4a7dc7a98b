"""Latency and peak memory of the REAL architectures with random weights (no download needed):
CLIP ViT-L-14-336 (batch 1 and 8), YOLO-World v2 X and S at 640 px (S also 6 photos in one pass), and
64 generated tokens of a SmolVLM-256M-sized Idefics3 (the cpu profile's generator).
CPU always; CUDA (bf16) when present.

Each case runs in its own process so its peak memory is its own. Usage:
    nice .venv/bin/python bench/models.py [--device cpu|cuda|all] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

GENERATED_TOKENS = 64
SMOLVLM_IMAGES = 5  # SmolVLM splits a photo into tiles: 4 tiles + the global view here, 64 tokens each


def _photo(size: int = 640):  # type: ignore[no-untyped-def]
    from PIL import Image
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((size, size))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _timed(run: Callable[[], object], device: str, repeats: int) -> float:
    run()  # warm-up: lazy loading, kernel selection
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_encoder(device: str, repeats: int, batch: int) -> float:
    from model.encoder import ClipEncoder
    from model.settings import ModelSettings

    encoder = ClipEncoder("open_clip:ViT-L-14-336/random", ModelSettings(device=device), batch_size=batch)
    images = [_photo(512)] * batch
    return _timed(lambda: encoder.embed_images(images), device, repeats) / batch


def bench_detector(device: str, repeats: int, graph: str, batch: int = 1) -> float:
    """Seconds per photo; `batch` photos of one shape through one detect_batch (one forward pass),
    as the serving engine sends them (model/engine.py)."""
    from model.detector import YoloWorldDetector
    from model.settings import ModelSettings
    from model.tiny import TINY_DETECTOR_TEXT_SPEC

    detector = YoloWorldDetector(graph, ModelSettings(device=device), text_spec=TINY_DETECTOR_TEXT_SPEC)
    images = [_photo(640)] * batch
    classes = ["person", "dog", "cup", "flag", "rocket"]
    return _timed(lambda: detector.detect_batch(images, classes), device, repeats) / batch


def smolvlm_256m_config():  # type: ignore[no-untyped-def]
    """Idefics3 with the sizes of HuggingFaceTB/SmolVLM-256M-Instruct: SigLIP-B/16 at 512 px
    (12 layers, width 768), pixel shuffle x4, SmolLM2-135M text model (30 layers, width 576)."""
    from transformers import Idefics3Config

    return Idefics3Config(
        vision_config={
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "image_size": 512,
            "patch_size": 16,
        },
        text_config={
            "model_type": "llama",
            "hidden_size": 576,
            "intermediate_size": 1536,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "vocab_size": 49280,
            "max_position_embeddings": 8192,
            "rope_theta": 100000.0,
            "tie_word_embeddings": True,
        },
        scale_factor=4,
        image_token_id=49190,
    )


def bench_generator(device: str, repeats: int) -> float:
    import torch
    from transformers import Idefics3ForConditionalGeneration

    from model.base import pick_dtype

    config = smolvlm_256m_config()
    dtype = pick_dtype(device)
    torch.manual_seed(0)
    model: Any = Idefics3ForConditionalGeneration(config)
    model = model.to(device=device, dtype=dtype).eval()
    tokens_per_image = (512 // 16) ** 2 // config.scale_factor**2
    prompt = [1] + [config.image_token_id] * tokens_per_image * SMOLVLM_IMAGES + list(range(100, 140))
    input_ids = torch.tensor([prompt], device=device)
    pixel_values = torch.rand(1, SMOLVLM_IMAGES, 3, 512, 512, device=device, dtype=dtype)

    def generate() -> object:
        with torch.inference_mode():
            return model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                pixel_values=pixel_values,
                max_new_tokens=GENERATED_TOKENS,
                min_new_tokens=GENERATED_TOKENS,  # random weights: never stop early
                do_sample=False,
            )

    return _timed(generate, device, max(1, repeats // 2))


CASES: dict[str, Callable[[str, int], float]] = {
    "encoder ViT-L-14-336, batch 1 (s/image)": lambda d, r: bench_encoder(d, r, 1),
    "encoder ViT-L-14-336, batch 8 (s/image)": lambda d, r: bench_encoder(d, r, 8),
    "detector yolov8x-worldv2, 640 px (s/image)": lambda d, r: bench_detector(d, r, "yolov8x-worldv2.yaml"),
    "detector yolov8s-worldv2, 640 px (s/image)": lambda d, r: bench_detector(d, r, "yolov8s-worldv2.yaml"),
    "detector yolov8s-worldv2, 640 px, batch 6 (s/image)": lambda d, r: bench_detector(d, r, "yolov8s-worldv2.yaml", 6),
    f"generator SmolVLM-256M size, {GENERATED_TOKENS} tokens (s)": bench_generator,
}


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    """This machine's fp32 matmul throughput right now: the yardstick for the figures (a shared,
    busy machine shows here first)."""
    import torch

    a, b = torch.rand(size, size), torch.rand(size, size)
    seconds = _timed(lambda: a @ b, "cpu", repeats)
    return 2 * size**3 / seconds / 1e9


def _child(name: str, device: str, repeats: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    seconds = CASES[name](device, repeats)
    if device.startswith("cuda"):
        import torch

        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out.put((seconds, peak_mib))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--smoke", action="store_true", help="CI size: the YOLO-World S case, once, on CPU")
    args = parser.parse_args()
    if args.smoke:
        args.device, args.repeats, args.only = "cpu", 1, "yolov8s-worldv2, 640 px (s"

    import torch

    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    context = mp.get_context("spawn")
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, threads {torch.get_num_threads()}, load {load:.1f}")
    print(f"fp32 matmul 1024^3 on CPU: {matmul_gflops():.1f} GFLOP/s")
    failures = 0
    print(f"| {'case':<52} | {'device':<6} | {'dtype':<8} | {'latency':>9} | {'peak MiB':>9} |")
    print(f"|{'-' * 54}|{'-' * 8}|{'-' * 10}|{'-' * 11}|{'-' * 11}|")
    for device in devices:
        dtype = "fp32" if device == "cpu" else "bf16/fp16"
        for name in (case for case in CASES if args.only in case):
            queue = context.Queue()
            process = context.Process(target=_child, args=(name, device, args.repeats, queue))
            process.start()
            process.join()
            if process.exitcode != 0:
                print(f"| {name:<52} | {device:<6} | {dtype:<8} | {'failed':>9} | {'':>9} |", flush=True)
                failures += 1
                continue
            seconds, peak = queue.get()
            print(f"| {name:<52} | {device:<6} | {dtype:<8} | {seconds:>8.3f}s | {peak:>9.0f} |", flush=True)
    peak_note = "CPU peak = the case process's max RSS (includes torch itself); CUDA peak = max allocated"
    print(peak_note)
    if failures:
        sys.exit(f"{failures} case(s) failed")


if __name__ == "__main__":
    main()
