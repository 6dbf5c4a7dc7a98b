"""`rapbot eval --task caption|recognition|qa`: measure a RAP model the way the paper does.

Input: one JSON file (paths relative to it), shaped like the release's eval files:

    {"concepts": {"bo": {"image": "concepts/bo.jpg", "info": "My shiba inu.", "category": "dog"}},
     "samples": [...]}

- caption:     {"image": "test/1.jpg", "concepts": ["bo", "mila"]}       (concepts really in the photo)
- recognition: {"image": "test/2.jpg", "concept": "bo", "present": true}
- qa:          {"image": "test/3.jpg" | null, "concepts": ["bo"], "question": "What colour is <bo>?",
                "options": {"A": "red", "B": "white"}, "answer": "A"}      (no image: a text-only question)

Two ways to get the concepts into the prompt: "gt" gives the sample's own concepts directly (the
paper's skip-retrieval setting, table 5); "pipeline" runs the detector over the photo, embeds the
crops and retrieves from the eval concepts as RAP does (2 nearest per crop, pooled by distance, the
first top-K; concepts named in the question first). Any other predictor can be passed as a callable.

Output: predictions.json (every prediction with its score), metrics.json and metrics.md."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tqdm import tqdm

from model.prompt import CAPTION_QUESTION, RECOGNITION_EVAL_QUESTION
from model.types import ConceptGenerator, ConceptRef, Generation, ImageEncoder, ModelBundle, ObjectDetector
from training.metrics import (
    aggregate_captions,
    fold,
    parse_yes_no,
    qa_choice,
    score_caption,
    score_qa,
    score_recognition,
)

Task = Literal["caption", "recognition", "qa"]
Mode = Literal["gt", "pipeline"]
QA_SUFFIX = "Answer with the option's letter from the given choices directly."


class EvalConcept(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image: str
    info: str = ""
    category: str = "object"


class CaptionItem(BaseModel):
    image: str
    concepts: list[str] = Field(default_factory=list)


class RecognitionItem(BaseModel):
    image: str
    concept: str
    present: bool


class QAItem(BaseModel):
    image: str | None = None
    concepts: list[str] = Field(default_factory=list)
    question: str
    options: dict[str, str] = Field(min_length=2)
    answer: str


ITEM_TYPES: dict[str, type[BaseModel]] = {"caption": CaptionItem, "recognition": RecognitionItem, "qa": QAItem}


class EvalError(ValueError):
    """A bad eval file; the message names the item and the field."""


@dataclass
class EvalSet:
    root: Path
    concepts: dict[str, EvalConcept]
    items: list[Any]

    def concept_ref(self, name: str) -> ConceptRef:
        c = self.concepts[name]
        return ConceptRef(name=name, info=c.info, image=open_image(self.root / c.image))


def open_image(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def read_eval_set(path: Path, task: Task) -> EvalSet:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("samples"), list):
        raise EvalError(f'{path}: expected {{"concepts": {{...}}, "samples": [...]}}')
    root = path.parent
    try:
        concepts = {str(k): EvalConcept.model_validate(v) for k, v in (raw.get("concepts") or {}).items()}
    except ValidationError as exc:
        raise EvalError(f"{path}: concepts: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
    for name, concept in concepts.items():
        if not (root / concept.image).is_file():
            raise EvalError(f"{path}: concept {name!r}: image not found: {concept.image}")
    items = []
    for i, sample in enumerate(raw["samples"]):
        try:
            item = ITEM_TYPES[task].model_validate(sample)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise EvalError(f"{path}: sample {i}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        named = getattr(item, "concepts", None) or [getattr(item, "concept", None)]
        unknown = [n for n in named if n is not None and n not in concepts]
        if unknown:
            raise EvalError(f'{path}: sample {i}: unknown concept {unknown[0]!r} (not in "concepts")')
        image = getattr(item, "image", None)
        if image is not None and not (root / image).is_file():
            raise EvalError(f"{path}: sample {i}: image not found: {image}")
        items.append(item)
    return EvalSet(root=root, concepts=concepts, items=items)


# --- how concepts reach the prompt ---------------------------------------------------------------


class ConceptIndex:
    """RAP's retrieval over the eval concepts, in memory: exact L2 over normalised CLIP features."""

    def __init__(self, eval_set: EvalSet, encoder: ImageEncoder, detector: ObjectDetector) -> None:
        self.eval_set = eval_set
        self.detector = detector
        self.encoder = encoder
        self.names = list(eval_set.concepts)
        images = [open_image(eval_set.root / eval_set.concepts[n].image) for n in self.names]
        keys = encoder.embed_images(images) if images else np.zeros((0, encoder.dim), np.float32)
        self.keys = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
        self.classes = sorted({c.category for c in eval_set.concepts.values()})

    def concepts_for(self, image: Image.Image | None, question: str, top_k: int) -> list[ConceptRef]:
        mentioned = [n for n in self.names if f"<{n}>" in question]
        chosen = [self.eval_set.concept_ref(n) for n in mentioned]
        if image is None or not self.names:
            return chosen
        detections = self.detector.detect(image, self.classes)
        if not detections:
            return chosen
        crops = [image.crop(d.box) for d in detections]  # PIL rounds the float box
        queries = self.encoder.embed_images(crops)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        distances = 2.0 - 2.0 * queries @ self.keys.T  # squared L2 between unit vectors
        hits: list[tuple[float, int, int]] = []
        for row in range(len(detections)):
            for col in np.argsort(distances[row])[:2]:
                hits.append((float(distances[row, col]), int(col), row))
        retrieved: list[ConceptRef] = []
        for dist, col, row in sorted(hits):
            name = self.names[col]
            if name in mentioned or any(r.name == name for r in retrieved):
                continue
            ref = self.eval_set.concept_ref(name)
            retrieved.append(ConceptRef(ref.name, ref.info, ref.image, detections[row].box, 1.0 - dist / 2.0))
            if len(retrieved) == top_k:
                break
        return chosen + retrieved


# (photo, question, the sample's own concept names) -> the model's answer
Predictor = Callable[[Image.Image | None, str, Sequence[str]], Generation]


def gt_predictor(generator: ConceptGenerator, eval_set: EvalSet, *, max_new_tokens: int = 128) -> Predictor:
    def predict(image: Image.Image | None, question: str, names: Sequence[str]) -> Generation:
        refs = [eval_set.concept_ref(n) for n in names]
        return generator.generate(image, refs, question, max_new_tokens=max_new_tokens, temperature=0.0, seed=0)

    return predict


def pipeline_predictor(
    bundle: ModelBundle, eval_set: EvalSet, *, top_k: int | None = None, max_new_tokens: int = 128
) -> Predictor:
    index = ConceptIndex(eval_set, bundle.encoder, bundle.detector)
    k = top_k or bundle.generator.max_concepts

    def predict(image: Image.Image | None, question: str, names: Sequence[str]) -> Generation:
        refs = index.concepts_for(image, question, k)
        return bundle.generator.generate(image, refs, question, max_new_tokens=max_new_tokens, temperature=0.0, seed=0)

    return predict


# --- the three tasks -----------------------------------------------------------------------------


def _progress(items: Sequence[Any], task: str, show: bool) -> Any:
    return tqdm(items, desc=f"eval {task}", unit="sample", disable=not show)


def qa_prompt(item: QAItem) -> str:
    options = "\n".join(f"{k}. {v}" for k, v in item.options.items())
    return f"{item.question}\n{options}\n{QA_SUFFIX}"


def run_eval(task: Task, eval_set: EvalSet, predict: Predictor, *, progress: bool = True) -> dict[str, Any]:
    """Every prediction with its score, and the metrics: {"task", "metrics", "predictions"}."""
    predictions: list[dict[str, Any]] = []
    known = list(eval_set.concepts)
    if task == "caption":
        scores = []
        for item in _progress(eval_set.items, task, progress):
            out = predict(open_image(eval_set.root / item.image), CAPTION_QUESTION, item.concepts)
            score = score_caption(out.text, item.concepts, known)
            scores.append(score)
            predictions.append(
                {
                    "image": item.image,
                    "targets": item.concepts,
                    "prediction": out.text,
                    "concepts_in_prompt": out.used,
                    "recall": score.recall,
                    "precision": score.precision,
                }
            )
        prf = aggregate_captions(scores)
        metrics: dict[str, Any] = {
            "recall": prf.recall,
            "precision": prf.precision,
            "f1": prf.f1,
            "images": len(scores),
        }
    elif task == "recognition":
        results = []
        for item in _progress(eval_set.items, task, progress):
            question = RECOGNITION_EVAL_QUESTION.format(name=item.concept)
            out = predict(open_image(eval_set.root / item.image), question, [item.concept])
            said = parse_yes_no(out.text)
            results.append((item.present, out.text))
            predictions.append(
                {
                    "image": item.image,
                    "concept": item.concept,
                    "present": item.present,
                    "prediction": out.text,
                    "read_as": said,
                    "correct": said == ("yes" if item.present else "no"),
                    "concepts_in_prompt": out.used,
                }
            )
        rec = score_recognition(results)
        metrics = {
            "positive": rec.positive,
            "negative": rec.negative,
            "weighted": rec.weighted,
            "positives": rec.n_positive,
            "negatives": rec.n_negative,
        }
    else:
        qa_results = []
        for item in _progress(eval_set.items, task, progress):
            image = open_image(eval_set.root / item.image) if item.image else None
            out = predict(image, qa_prompt(item), item.concepts)
            choice = qa_choice(out.text, item.options)
            right = choice is not None and fold(choice) == fold(item.answer)
            qa_results.append((image is not None, right))
            predictions.append(
                {
                    "image": item.image,
                    "question": item.question,
                    "answer": item.answer,
                    "prediction": out.text,
                    "chosen": choice,
                    "correct": right,
                    "concepts_in_prompt": out.used,
                }
            )
        qa = score_qa(qa_results)
        metrics = {
            "visual": qa.visual,
            "text": qa.text,
            "weighted": qa.weighted,
            "visual_questions": qa.n_visual,
            "text_questions": qa.n_text,
        }
    return {"task": task, "metrics": metrics, "predictions": predictions}


def markdown_table(report: dict[str, Any], title: str = "") -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return f"{value * 100:.2f}" if report["task"] == "caption" else f"{value:.3f}"
        return str(value)

    metrics = report["metrics"]
    head = f"### {title or report['task']}\n\n"
    return (
        head
        + "| "
        + " | ".join(metrics)
        + " |\n|"
        + "---|" * len(metrics)
        + "\n| "
        + " | ".join(cell(v) for v in metrics.values())
        + " |\n"
    )


def write_reports(report: dict[str, Any], out_dir: Path, title: str = "") -> tuple[Path, Path]:
    """predictions.json, metrics.json and metrics.md in `out_dir`; returns (predictions, markdown)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions = out_dir / "predictions.json"
    predictions.write_text(json.dumps(report["predictions"], ensure_ascii=False, indent=1), encoding="utf-8")
    (out_dir / "metrics.json").write_text(json.dumps({"task": report["task"], **report["metrics"]}, indent=1))
    markdown = out_dir / "metrics.md"
    markdown.write_text(markdown_table(report, title), encoding="utf-8")
    return predictions, markdown
