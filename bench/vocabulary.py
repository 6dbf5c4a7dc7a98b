"""What the fixed answer-time vocabulary changes in detection (docs/worker.md, "Detection batches
across memories"): for each photo and memory category list, the boxes YOLO-World finds when asked
for the memory's own categories, against those found when asked for the whole general vocabulary
with only the memory's categories kept per photo (before non-maximum suppression; what the
pipeline does now), and against plain filtering of the vocabulary's boxes by label (after it).

Recall = share of the own-list boxes found again (IoU >= 0.5, same label). Photos: skimage.data and
ultralytics' assets (offline). With the tiny profile the detector has random weights: the figures
say how much the class-conditioned network and the per-photo class cut move boxes, not how well a
trained YOLO-World finds cats.

    .venv/bin/python bench/vocabulary.py [--smoke]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import numpy as np
from offline_env import ROOT  # noqa: F401  (puts the repository on sys.path, offline settings)

CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("chelsea", ("cat",)),
    ("astronaut", ("person",)),
    ("coffee", ("cup",)),
    ("rocket", ("building",)),
    ("astronaut", ("person", "flower")),
    ("chelsea", ("cat", "dog")),
    ("bus.jpg", ("person", "bus")),
    ("zidane.jpg", ("person",)),
)


def load_photo(name: str) -> object:
    from PIL import Image

    if name.endswith(".jpg"):
        import ultralytics

        return Image.open(os.path.join(os.path.dirname(ultralytics.__file__), "assets", name)).convert("RGB")
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def recovered(own: Sequence[object], other: Sequence[object]) -> tuple[int, list[float]]:
    found, deltas = 0, []
    for box in own:
        match = [o for o in other if o.label == box.label and iou(box.box, o.box) >= 0.5]  # type: ignore[attr-defined]
        if match:
            found += 1
            best = max(match, key=lambda o: iou(box.box, o.box))  # type: ignore[attr-defined]
            deltas.append(best.score - box.score)  # type: ignore[attr-defined]
    return found, deltas


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CI size: two photos")
    parser.add_argument("--profile", default="tiny")
    args = parser.parse_args(argv)

    from model.profiles import load_bundle
    from worker.domain.vocabulary import GENERAL_VOCABULARY

    detector = load_bundle(args.profile).detector
    cases = CASES[:2] if args.smoke else CASES
    totals = {"own": 0, "keep": 0, "label": 0}
    deltas: list[float] = []
    print(f"{'photo':22} {'categories':20} {'own':>4} {'cut before NMS':>14} {'filter after':>12}")
    for name, categories in cases:
        photo = load_photo(name)
        own = detector.detect(photo, list(categories))  # type: ignore[arg-type]
        kept = detector.detect(photo, GENERAL_VOCABULARY, keep=list(categories))  # type: ignore[arg-type]
        everything = detector.detect(photo, GENERAL_VOCABULARY, max_boxes=300)  # type: ignore[arg-type]
        filtered = [d for d in everything if d.label in categories][: len(own) or 20]
        found_keep, moved = recovered(own, kept)
        found_label, _ = recovered(own, filtered)
        deltas += moved
        totals["own"] += len(own)
        totals["keep"] += found_keep
        totals["label"] += found_label
        print(f"{name:22} {','.join(categories):20} {len(own):>4} {found_keep:>14} {found_label:>12}")
    count = max(totals["own"], 1)
    print(
        f"recall of the own-list boxes: cut before NMS {totals['keep']}/{totals['own']} = "
        f"{totals['keep'] / count:.3f}, filter after NMS {totals['label']}/{totals['own']} = "
        f"{totals['label'] / count:.3f}"
    )
    if deltas:
        print(
            f"score change of the boxes found again: mean {np.mean(deltas):+.4f}, largest {np.max(np.abs(deltas)):.4f}"
        )


if __name__ == "__main__":
    main()
