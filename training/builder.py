"""`rapbot data build`: turn the user's annotated images into RAP training samples.

For every concept occurrence it makes the paper's task mix (recognition positive and negative,
grounding; and, with an annotator, captions, descriptions, visual and text-only QA), with concept
crops as references (a photo of the same concept from another image when there is one, else its own
crop), flips and rotations, and noise concepts added to `extra` with the answer unchanged. Samples
with more concepts than `max_num_concept` are skipped, as the release does. Everything is drawn from
one seeded generator, so the same inputs and seed give byte-identical output.

Output (written to a temporary folder, then renamed into place, so a failed build leaves nothing
half-written): samples.json (RAP-260K schema), images/, crops/, summary.json."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from model import prompt as rap
from training.annotators import (
    Annotator,
    AnnotatorError,
    ConceptNote,
    answer_question,
    caption_image,
    describe_concept,
    describe_image,
)
from training.augment import augment_crop
from training.metrics import find_mentions
from training.schema import RapSample, read_samples
from training.settings import BuildConfig
from training.sources import Occurrence, Problem, SourceImage, SourceSet

# Answers to recognition questions, in the released model's own words (paper tables 18-19).
POSITIVE_ANSWERS: tuple[str, ...] = (
    "Yes, <{name}> is in the photo.",
    "Yes, <{name}> is visible in this picture.",
    "Yes, I recognize <{name}> in this picture.",
    "Yes, <{name}> is included in this shot.",
    "Yes. <{name}> is in this photo.",
)
NEGATIVE_ANSWERS: tuple[str, ...] = (
    "No, <{name}> is not part of this photograph.",
    "<{name}> is not captured in this image.",
    "No, <{name}> is not included in this shot.",
    "No, <{name}> is not visible in this picture.",
    "No, <{name}> is not in this image.",
)
PERSON_CATEGORIES = {"person", "man", "woman", "boy", "girl", "child", "people", "human", "face"}


def grounding_answer(box: tuple[float, float, float, float], size: tuple[int, int]) -> str:
    """The box normalised to the image, two decimals, as the release writes it: [0.57, 0.67, 0.68, 0.84]."""
    w, h = size
    x1, y1, x2, y2 = box
    return str([round(x1 / w, 2), round(y1 / h, 2), round(x2 / w, 2), round(y2 / h, 2)])


@dataclass
class BuildSummary:
    samples: int = 0
    per_task: Counter[str] = field(default_factory=Counter)
    with_noise: int = 0
    skipped_over_max_num_concept: int = 0
    skipped_needs_annotator: Counter[str] = field(default_factory=Counter)
    concepts: int = 0
    images: int = 0
    passthrough: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_json(self, config: BuildConfig) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "per_task": dict(sorted(self.per_task.items())),
            "with_noise_concepts": self.with_noise,
            "skipped_over_max_num_concept": self.skipped_over_max_num_concept,
            "skipped_needs_annotator": dict(sorted(self.skipped_needs_annotator.items())),
            "concepts": self.concepts,
            "images": self.images,
            "passthrough": self.passthrough,
            "problems": [{"item": p.item, "reason": p.reason} for p in self.problems],
            "config": config.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class _Concept:
    name: str
    info: str
    category: str


@lru_cache(maxsize=16)
def _load_rgb(path: Path, mtime_ns: int) -> Image.Image:
    """Photos are read once for all their crops (callers never modify the returned image); the
    modification time in the key makes an edited file read again."""
    with Image.open(path) as img:
        return img.convert("RGB")


def _safe(name: str) -> str:
    slug = re.sub(r"[^\w-]+", "_", name, flags=re.UNICODE).strip("_")[:40] or "concept"
    return f"{slug}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


class _Writer:
    """Writes images and crops into the build folder and names them deterministically."""

    def __init__(self, root: Path, crop_format: str) -> None:
        self.root = root
        self.crop_format = crop_format
        (root / "images").mkdir(parents=True)
        (root / "crops").mkdir()
        self._images: dict[Path, str] = {}
        self._crops = 0

    def query_image(self, path: Path) -> str:
        if path not in self._images:
            rel = f"images/{len(self._images):06d}{path.suffix.lower()}"
            try:
                os.link(path, self.root / rel)  # no copy when on the same file system
            except OSError:
                shutil.copyfile(path, self.root / rel)
            self._images[path] = rel
        return self._images[path]

    def crop(self, image: Image.Image, concept: str) -> str:
        rel = f"crops/{_safe(concept)}_{self._crops:06d}.{self.crop_format}"
        self._crops += 1
        image.convert("RGB").save(self.root / rel, quality=92) if self.crop_format == "jpg" else image.save(
            self.root / rel
        )
        return rel


class DatasetBuilder:
    def __init__(self, config: BuildConfig, annotator: Annotator | None = None) -> None:
        self.config = config
        self.annotator = annotator
        self.rng = random.Random(config.seed)

    # -- helpers ------------------------------------------------------------------------------

    def _count(self, ratio: float) -> int:
        whole = int(ratio)
        return whole + (1 if self.rng.random() < ratio - whole else 0)

    @staticmethod
    def _load(path: Path) -> Image.Image:
        return _load_rgb(path, path.stat().st_mtime_ns)

    def _crop_of(self, image: SourceImage, occ: Occurrence) -> Image.Image:
        full = self._load(image.path)
        return full.crop(occ.box) if occ.box else full  # PIL rounds the float box

    # -- the build ------------------------------------------------------------------------------

    def build(
        self,
        source: SourceSet,
        out_dir: Path,
        *,
        passthrough: Sequence[tuple[Path, Path]] = (),
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Build into `out_dir` (atomically) and return the summary. `passthrough` lists (samples
        JSON, image root) pairs in the RAP-260K schema, carried over with absolute image paths."""
        if out_dir.exists() and not overwrite:
            raise FileExistsError(f"{out_dir} already exists; pass --overwrite to replace it")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        try:
            summary = BuildSummary(problems=list(source.problems))
            writer = _Writer(tmp, self.config.crop_format)
            samples = self._make_samples(source, writer, summary, progress)
            for data_path, image_root in passthrough:
                samples += self._passthrough(data_path, image_root, summary)
            summary.samples = len(samples)
            (tmp / "samples.json").write_text(json.dumps(samples, ensure_ascii=False, indent=1), encoding="utf-8")
            report = summary.to_json(self.config)
            (tmp / "summary.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
            if out_dir.exists():
                old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
                out_dir.rename(old)
                tmp.rename(out_dir)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(out_dir)
            return report
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _passthrough(self, data_path: Path, image_root: Path, summary: BuildSummary) -> list[dict[str, Any]]:
        try:
            samples = read_samples(data_path)
        except ValueError as exc:
            summary.problems.append(Problem(str(data_path), str(exc)))
            return []
        out: list[dict[str, Any]] = []
        for sample in samples:
            paths = ([sample.image] if sample.image else []) + list(sample.extra)
            missing = [p for p in paths if not (image_root / p).is_file()]
            if missing:
                summary.problems.append(Problem(f"{data_path}:{sample.id}", f"image not found: {missing[0]}"))
                continue
            if len(sample.extra) > self.config.max_num_concept:
                summary.skipped_over_max_num_concept += 1
                continue
            row = sample.dump()
            if sample.image:
                row["image"] = str((image_root / sample.image).resolve())
            row["extra"] = {str((image_root / k).resolve()): v for k, v in row["extra"].items()}
            out.append(row)
            summary.passthrough += 1
            summary.per_task[sample.type] += 1
        return out

    def _concept_table(self, source: SourceSet, summary: BuildSummary) -> dict[str, _Concept]:
        table: dict[str, _Concept] = {}
        for name, seen in source.concepts().items():
            first_image, first = seen[0]
            info = next((o.info for _, o in seen if o.info), None)
            if info is None and self.annotator is not None:
                try:
                    info = describe_concept(self.annotator, self._crop_of(first_image, first), first.category)
                except AnnotatorError as exc:
                    summary.problems.append(Problem(first.source, f"no description: {exc}"))
            if info is None:
                expression = next((e for _, o in seen for e in o.expressions), None)
                info = f"The {expression}." if expression else f"A {first.category}."
            table[name] = _Concept(name=name, info=info, category=first.category)
        return table

    def _reference(
        self, name: str, image: SourceImage, occ: Occurrence, seen: dict[str, list[tuple[SourceImage, Occurrence]]]
    ) -> Image.Image:
        """A view of the concept for `extra`: from another photo when there is one (a novel view),
        else its own crop; then flipped/rotated."""
        others = [(i, o) for i, o in seen[name] if i.path != image.path]
        ref_image, ref_occ = self.rng.choice(others) if others else (image, occ)
        crop = self._crop_of(ref_image, ref_occ)
        cfg = self.config
        crop, _ = augment_crop(
            crop, self.rng, flip_prob=cfg.flip_prob, rotate_prob=cfg.rotate_prob, max_deg=cfg.max_rotation_deg
        )
        return crop

    def _make_samples(
        self,
        source: SourceSet,
        writer: _Writer,
        summary: BuildSummary,
        progress: Callable[[int, int], None] | None,
    ) -> list[dict[str, Any]]:
        cfg, ratios = self.config, self.config.ratios
        seen = source.concepts()
        concepts = self._concept_table(source, summary)
        summary.concepts, summary.images = len(concepts), len(source.images)
        samples: list[dict[str, Any]] = []

        def add(task: str, image: SourceImage | None, extra: list[tuple[str, str]], question: str, answer: str) -> None:
            """extra: (crop path, concept name) of the concepts the answer is about."""
            entries = list(extra)
            present = {n for _, n in entries} | ({o.concept for o in image.occurrences} if image else set())
            if self.rng.random() < cfg.noise_ratio:
                room = cfg.max_num_concept - len(entries)
                pool = [n for n in concepts if n not in present]
                for noise in self.rng.sample(pool, k=min(room, len(pool))) if room > 0 else []:
                    view_image, view_occ = self.rng.choice(seen[noise])
                    entries.append((writer.crop(self._reference(noise, view_image, view_occ, seen), noise), noise))
                if len(entries) > len(extra):
                    summary.with_noise += 1
                self.rng.shuffle(entries)  # the true concept is not always first
            if len(entries) > cfg.max_num_concept:
                summary.skipped_over_max_num_concept += 1
                return
            first = f"{rap.IMAGE_TOKEN}\n{question}" if image is not None else question
            row: dict[str, Any] = {"id": f"{task}-{len(samples):07d}"}
            if image is not None:
                row["image"] = writer.query_image(image.path)
            row["conversations"] = [{"from": "human", "value": first}, {"from": "gpt", "value": answer}]
            row["extra"] = {
                path: {"name": n, "info": concepts[n].info, "category": concepts[n].category} for path, n in entries
            }
            row["type"] = task
            samples.append(RapSample.model_validate(row).dump())
            summary.per_task[task] += 1

        def annotated(task: str, item: str, fn: Callable[..., str], *args: Any) -> str | None:
            """fn(annotator, *args), or None (counted) without an annotator or when it fails."""
            if self.annotator is None:
                summary.skipped_needs_annotator[task] += 1
                return None
            try:
                return fn(self.annotator, *args)
            except AnnotatorError as exc:
                summary.problems.append(Problem(item, f"{task}: {exc}"))
                return None

        for index, image in enumerate(source.images):
            if progress:
                progress(index, len(source.images))
            here = [o.concept for o in image.occurrences]
            photo = self._load(image.path) if self.annotator is not None else None  # what an annotator looks at
            for occ in image.occurrences:
                name, concept = occ.concept, concepts[occ.concept]

                def ref(name: str = name, image: SourceImage = image, occ: Occurrence = occ) -> str:
                    return writer.crop(self._reference(name, image, occ, seen), name)

                for _ in range(self._count(ratios.recognition_positive)):
                    q = self.rng.choice(rap.RECOGNITION_QUESTIONS).format(name=name)
                    add("recognition", image, [(ref(), name)], q, self.rng.choice(POSITIVE_ANSWERS).format(name=name))
                absent = [n for n in concepts if n not in here]
                for _ in range(self._count(ratios.recognition_negative) if absent else 0):
                    other = self.rng.choice(absent)
                    view_image, view_occ = self.rng.choice(seen[other])
                    crop = writer.crop(self._reference(other, view_image, view_occ, seen), other)
                    q = self.rng.choice(rap.RECOGNITION_QUESTIONS).format(name=other)
                    add("recognition", image, [(crop, other)], q, self.rng.choice(NEGATIVE_ANSWERS).format(name=other))
                if occ.box is not None:
                    for _ in range(self._count(ratios.grounding)):
                        q = self.rng.choice(rap.GROUNDING_QUESTIONS).format(name=name)
                        add("grounding", image, [(ref(), name)], q, grounding_answer(occ.box, image.size))
                note = ConceptNote(name, concept.info, concept.category)
                seeds = (
                    rap.PERSON_QA_QUESTIONS
                    if concept.category.lower() in PERSON_CATEGORIES
                    else rap.OBJECT_QA_QUESTIONS
                )
                for _ in range(self._count(ratios.qa)):
                    q = self.rng.choice(seeds).format(name=name)
                    a = annotated("qa", occ.source, answer_question, q, [note], photo)
                    if a:
                        add("qa", image, [(ref(), name)], q, a)
                for _ in range(self._count(ratios.qa_text_only)):
                    q = self.rng.choice(seeds).format(name=name)
                    a = annotated("qa_text", occ.source, answer_question, q, [note], None)
                    if a:
                        add("qa_text", None, [(ref(), name)], q, a)

            # Whole-image tasks name every concept in the photo; a photo with more concepts than the
            # model takes is skipped for them, as the release does.
            group = image.occurrences
            if len(group) > cfg.max_num_concept:
                summary.skipped_over_max_num_concept += 1
                continue
            notes = [ConceptNote(o.concept, concepts[o.concept].info, concepts[o.concept].category) for o in group]
            for task, questions, writer_fn, ratio in (
                ("caption", rap.CAPTION_QUESTIONS, caption_image, ratios.caption),
                ("description", rap.DESCRIPTION_QUESTIONS, describe_image, ratios.description),
            ):
                for _ in range(self._count(ratio)):
                    crops = [self._crop_of(image, o) for o in group] if self.annotator is not None else []
                    text = annotated(task, str(image.path), writer_fn, photo, notes, crops)
                    if text and not set(find_mentions(text, here)) & set(here):
                        # a caption that names nobody teaches the model to ignore the concepts
                        summary.problems.append(Problem(str(image.path), f"{task}: the annotator named no concept"))
                        continue
                    if text:
                        refs = [
                            (writer.crop(self._reference(o.concept, image, o, seen), o.concept), o.concept)
                            for o in group
                        ]
                        add(task, image, refs, self.rng.choice(questions), text)
        return samples
