"""What batching can buy on this machine, at most: each network of a profile timed alone (no queue,
no other stage competing for the cores), one request at a time vs `--batch` requests in one call,
the way the serving engine (model/engine.py) calls them:

- detection: `--batch` photos of one shape in one detect_batch (one forward pass), seconds per photo;
- image embedding: 20 crops (a photo answer's worth with the tiny detector) one by one vs in one call;
- generation: a photo question with one retrieved concept, 32 new tokens (never stopping early),
  one request vs `--batch` in one generate_batch: generation tokens/s.

The last lines bound bench/load.py's answers/s at many chats: the per-answer time is at least the
sum of the stages' per-item times, so batched vs one at a time can differ by at most the ratio of
those sums (printed as "bound on answers/s").

    .venv/bin/python bench/batching.py [--profile tiny] [--batch 6] [--repeats 3] [--device cpu|cuda]
    .venv/bin/python bench/batching.py --smoke    # CI: batch 2, one repeat
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CROPS_PER_ANSWER = 20
NEW_TOKENS = 32


def timed(run: Callable[[], object], repeats: int, device: str) -> float:
    """Median seconds of `repeats` runs after one warm-up run."""
    import torch

    run()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="tiny", choices=["tiny", "cpu", "gpu"])
    parser.add_argument("--device", default=None, help="RAPBOT_DEVICE (auto, cpu, cuda)")
    parser.add_argument("--batch", type=int, default=6, help="requests in one call (default 6)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="CI size: batch 2, one repeat, 4 tokens")
    args = parser.parse_args()
    if args.smoke:
        args.batch, args.repeats = 2, 1
    if args.batch < 2 or args.repeats < 1:
        parser.error("--batch must be at least 2 and --repeats at least 1")
    new_tokens = 4 if args.smoke else NEW_TOKENS

    import torch
    from PIL import Image
    from skimage import data

    from model.profiles import load_bundle
    from model.settings import ModelSettings
    from model.types import ConceptRef, GenerationRequest, view_key

    overrides = {"device": args.device} if args.device else {}
    settings = ModelSettings(model_dir=Path(tempfile.mkdtemp(prefix="rapbot-batching-")), **overrides)
    bundle = load_bundle(args.profile, settings)
    device = str(getattr(bundle.generator, "device", settings.device))
    photo = Image.fromarray(data.astronaut()).resize((640, 480))
    photos = [photo.rotate(angle) for angle in range(args.batch)]
    crops = [photos[i % len(photos)].crop((i * 10, 0, i * 10 + 200, 200)) for i in range(CROPS_PER_ANSWER)]
    concept = ConceptRef(
        name="bo", info="my shiba inu", image=photo.crop((100, 50, 400, 350)), view_id=view_key(1, b"bo")
    )
    classes = ["person", "dog", "cup", "flag", "rocket"]

    detector, encoder, generator = bundle.detector, bundle.encoder, bundle.generator
    detect_1 = timed(lambda: detector.detect_batch(photos[:1], classes), args.repeats, device)
    detect_n = timed(lambda: detector.detect_batch(photos, classes), args.repeats, device) / args.batch
    embed_1 = timed(lambda: [encoder.embed_images([c]) for c in crops], args.repeats, device)
    embed_n = timed(lambda: encoder.embed_images(crops), args.repeats, device)

    def requests(n: int) -> list[GenerationRequest]:
        return [
            GenerationRequest(photos[i], [concept], "What is <bo> doing?", new_tokens, 0.2, seed=i) for i in range(n)
        ]

    one, many = requests(1), requests(args.batch)
    generate_1 = timed(lambda: generator.generate_batch(one), args.repeats, device)
    generate_n = timed(lambda: generator.generate_batch(many), args.repeats, device) / args.batch

    print(
        f"profile {args.profile}, device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f}; batch {args.batch}, median of {args.repeats}"
    )
    print("| stage, per answer | one at a time ms | batched ms | batched speed-up |\n|---|---:|---:|---:|")
    rows = (
        (f"detect (1 photo; {args.batch} in one pass)", detect_1, detect_n),
        (f"embed ({CROPS_PER_ANSWER} crops: one by one; in one call)", embed_1, embed_n),
        (f"generate ({new_tokens} tokens; {args.batch} requests in one call)", generate_1, generate_n),
    )
    for label, alone, batched in rows:
        print(f"| {label} | {alone * 1e3:.1f} | {batched * 1e3:.1f} | {alone / batched:.2f}x |")
    alone_sum = sum(row[1] for row in rows)
    batched_sum = sum(row[2] for row in rows)
    share = detect_n / batched_sum
    print(
        f"\ngeneration stage, batch {args.batch}: {generate_1 / generate_n:.2f}x tokens/s; "
        f"bound on answers/s, batched vs one at a time: {alone_sum / batched_sum:.2f}x "
        f"({alone_sum * 1e3:.0f} vs {batched_sum * 1e3:.0f} ms of network time per answer; detection "
        f"{share:.0%} of the batched one)"
    )


if __name__ == "__main__":
    main()
