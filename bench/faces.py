"""People by face vs CLIP-tiny: how far apart same-person and other-person similarities lie.

The astronaut from skimage.data is the remembered person; the same person is her photo mirrored,
rescaled (0.5x, 1.5x), cropped and 30% brighter / darker; other people are every face in
ultralytics' bundled zidane.jpg and bus.jpg. Both encoders compare the SAME regions (the face box
each photo's face finder returned, and the whole photos), so the figures differ only by encoder:
dlib's real face descriptor (model/faces.py) and the tiny profile's random CLIP (model/tiny.py).
Separation = the lowest same-person similarity minus the highest other-person one (> 0: one
threshold tells them apart). Also prints the face finder's time per photo (HOG; `--cnn` adds dlib's CNN detector).

    .venv/bin/python bench/faces.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import offline_env  # noqa: F401  # isort: skip  (first: rapbot on sys.path, model hubs offline)
import numpy as np
from PIL import Image, ImageEnhance, ImageOps


def photos() -> tuple[Image.Image, dict[str, Image.Image], dict[str, Image.Image]]:
    import ultralytics
    from skimage import data

    her = Image.fromarray(data.astronaut())
    edits: dict[str, Callable[[Image.Image], Image.Image]] = {
        "mirrored": ImageOps.mirror,
        "0.5x": lambda im: im.resize((im.width // 2, im.height // 2)),
        "1.5x": lambda im: im.resize((im.width * 3 // 2, im.height * 3 // 2)),
        "cropped": lambda im: im.crop((100, 20, 400, 300)),
        "+30%": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
        "-30%": lambda im: ImageEnhance.Brightness(im).enhance(0.7),
    }
    assets = Path(ultralytics.__file__).parent / "assets"
    others = {name: Image.open(assets / name).convert("RGB") for name in ("zidane.jpg", "bus.jpg")}
    return her, {name: edit(her) for name, edit in edits.items()}, others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="face finder timings per photo (median)")
    parser.add_argument("--cnn", action="store_true", help="also time dlib's CNN (mmod) detector, once per photo")
    parser.add_argument("--smoke", action="store_true", help="CI size: one timing per photo")
    args = parser.parse_args()
    if args.smoke:
        args.repeats, args.cnn = 1, False

    from model.faces import FaceEncoder
    from model.profiles import load_bundle

    bundle = load_bundle("tiny")
    clip = bundle.encoder
    faces = bundle.faces
    assert isinstance(faces, FaceEncoder)
    start = time.perf_counter()
    faces.load()
    print(
        f"face networks load: {time.perf_counter() - start:.2f} s  (threshold: cosine {faces.similarity_threshold:.3f})"
    )

    her, same, others = photos()
    (reference,) = faces.find(her)

    def clip_of(images: list[Image.Image]) -> np.ndarray:
        return np.asarray(clip.embed_images(images))

    ref_face_clip, ref_whole_clip = clip_of([her.crop(reference.box), her])

    # (person, case, (face, CLIP-tiny on the face box, CLIP-tiny on the whole photo))
    rows: list[tuple[str, str, tuple[float, float, float]]] = []
    for kind, cases in (("same", same), ("other", others)):
        for case, image in cases.items():
            found = faces.find(image)
            whole = clip_of([image])[0]
            for i, face in enumerate(found):
                crop_clip = clip_of([image.crop(face.box)])[0]
                label = case if len(found) == 1 else f"{case} #{i + 1}"
                sims = (
                    float(face.descriptor @ reference.descriptor),
                    float(crop_clip @ ref_face_clip),
                    float(whole @ ref_whole_clip),
                )
                rows.append((kind, label, sims))

    print("\n| person | case | face (dlib) | CLIP-tiny, face box | CLIP-tiny, whole photo |")
    print("|---|---|---:|---:|---:|")
    for kind, case, (face_sim, crop_sim, whole_sim) in rows:
        print(f"| {kind} | {case} | {face_sim:.3f} | {crop_sim:.3f} | {whole_sim:.3f} |")

    print("\n| encoder | lowest same-person | highest other-person | separation |")
    print("|---|---:|---:|---:|")
    for column, name in enumerate(("face (dlib ResNet)", "CLIP-tiny, face box", "CLIP-tiny, whole photo")):
        low = min(sims[column] for kind, _, sims in rows if kind == "same")
        high = max(sims[column] for kind, _, sims in rows if kind == "other")
        print(f"| {name} | {low:.3f} | {high:.3f} | {low - high:+.3f} |")

    # Look-alikes (docs/index.md): two concepts within LOOKALIKE_MARGIN of each other on one face are
    # both named, as uncertain. Two views of the same person spread by `spread`; the closest other
    # person stays `gap` below her: a margin between the two flags the same face remembered twice
    # and never merges two different people.
    from worker.domain.lookalikes import LOOKALIKE_MARGIN

    same_faces = [sims[0] for kind, _, sims in rows if kind == "same"]
    spread = max(same_faces) - min(same_faces)
    gap = min(same_faces) - max(sims[0] for kind, _, sims in rows if kind == "other")
    print(
        f"\nlook-alike margin {LOOKALIKE_MARGIN:.3f}: same-person spread {spread:.3f} (flagged as uncertain), "
        f"gap to the closest other person {gap:.3f} (never merged): "
        f"{'inside' if spread <= LOOKALIKE_MARGIN < gap else 'OUTSIDE'} the measured window"
    )

    print("\n| photo | size | faces | face finder, median s |")
    print("|---|---|---:|---:|")
    for name, image in {"astronaut": her, **others}.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            found = faces.find(image)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {image.width}x{image.height} | {len(found)} | {statistics.median(times):.3f} |")
    if args.cnn:
        time_cnn({"astronaut": her, **others})


def time_cnn(images: dict[str, Image.Image]) -> None:
    """dlib's CNN face detector at upsample 0, the alternative model/faces.py did not pick."""
    import dlib

    from model.faces import weights_dir

    cnn = dlib.cnn_face_detection_model_v1(str(weights_dir() / "mmod_human_face_detector.dat"))
    print("\n| photo | CNN (mmod) faces | CNN s |")
    print("|---|---:|---:|")
    for name, image in images.items():
        start = time.perf_counter()
        found = cnn(np.asarray(image), 0)
        print(f"| {name} | {len(found)} | {time.perf_counter() - start:.2f} |")


if __name__ == "__main__":
    main()
