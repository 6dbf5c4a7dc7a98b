"""`rapbot data build`, `rapbot train` and `rapbot eval`. Heavy imports (torch, transformers) happen
inside the commands so `rapbot --help` stays fast."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

data_app = typer.Typer(
    name="data", help="Training data: build RAP samples from your annotated photos.", no_args_is_help=True
)


_USER_ERRORS = {"ConfigError", "EvalError", "GeneratorSpecError", "TrainingError", "AnnotatorError", "WeightsMissing"}


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one clear line and exit code 2 (no traceback)."""
    try:
        yield
    except Exception as exc:
        if not (isinstance(exc, FileExistsError) or {c.__name__ for c in type(exc).__mro__} & _USER_ERRORS):
            raise
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@data_app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", help="Output folder (samples.json, images/, crops/, summary.json).")],
    coco: Annotated[Path | None, typer.Option(help="COCO- or RefCOCO-style annotation JSON.")] = None,
    image_root: Annotated[
        Path | None, typer.Option(help="Where --coco's file_name paths live (default: its folder).")
    ] = None,
    concepts: Annotated[
        Path | None, typer.Option(help="A concept folder: <dir>/<name>/*.jpg (+ concepts.json|yaml).")
    ] = None,
    rap: Annotated[
        list[Path] | None, typer.Option(help="Samples already in the RAP-260K schema, carried over.")
    ] = None,
    rap_image_root: Annotated[
        Path | None, typer.Option(help="Where --rap samples' image paths live (default: beside each file).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Build config, YAML or JSON (seed, ratios, noise_ratio, ...).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Overrides the config's seed.")] = None,
    max_num_concept: Annotated[
        int | None, typer.Option(help="Skip samples with more concepts (2 LLaVA, 3 Phi-3).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
) -> None:
    """Build RAP training samples (recognition, grounding, captions, descriptions, QA, negatives)."""
    # Loaded when the command runs, so `rapbot --help` stays fast.
    from tqdm import tqdm

    from training.annotators import make_annotator
    from training.builder import DatasetBuilder
    from training.settings import AnnotatorSettings, BuildConfig, load_config
    from training.sources import SourceSet, read_coco, read_concept_folder

    if coco is None and concepts is None and not rap:
        raise typer.BadParameter("give at least one input: --coco FILE, --concepts DIR or --rap FILE")
    with _user_errors():
        cfg = load_config(BuildConfig, config, {"seed": seed, "max_num_concept": max_num_concept})
        source = SourceSet()
        if coco is not None:
            part = read_coco(coco, image_root, seed=cfg.seed, min_crop_px=cfg.min_crop_px)
            source.images += part.images
            source.problems += part.problems
        if concepts is not None:
            part = read_concept_folder(concepts, min_crop_px=cfg.min_crop_px)
            source.images += part.images
            source.problems += part.problems
        passthrough = [(p, rap_image_root or p.parent) for p in rap or []]
        annotator = make_annotator(AnnotatorSettings())
        bar = tqdm(desc="building", unit="image", total=len(source.images))

        def progress(done: int, total: int) -> None:
            bar.update(1)

        try:
            summary = DatasetBuilder(cfg, annotator).build(
                source, out, passthrough=passthrough, overwrite=overwrite, progress=progress
            )
        finally:
            bar.close()
    counts = ", ".join(f"{task} {n}" for task, n in summary["per_task"].items()) or "none"
    typer.echo(f"{summary['samples']} samples in {out / 'samples.json'} ({counts})")
    if summary["skipped_over_max_num_concept"]:
        typer.echo(f"skipped {summary['skipped_over_max_num_concept']} over max_num_concept")
    if summary["skipped_needs_annotator"]:
        typer.echo(
            "not made without an annotator (set RAPBOT_ANNOTATOR_KIND): "
            + ", ".join(f"{t} {n}" for t, n in summary["skipped_needs_annotator"].items())
        )
    for problem in summary["problems"]:
        typer.secho(f"problem: {problem['item']}: {problem['reason']}", fg=typer.colors.YELLOW, err=True)


def train_command(
    config: Annotated[Path, typer.Option("--config", help="Training config, YAML or JSON (see docs/training.md).")],
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint in output_dir.")] = False,
    max_steps: Annotated[int | None, typer.Option(help="Overrides the config's max_steps.")] = None,
) -> None:
    """LoRA-train a Llava-family model on RAP samples; writes <output_dir>/adapter."""
    # Loaded when the command runs, so `rapbot --help` stays fast.
    from training.settings import TrainConfig, load_config
    from training.trainer import train

    with _user_errors():
        cfg = load_config(TrainConfig, config, {"resume": True if resume else None, "max_steps": max_steps})
        result = train(cfg)
    typer.echo(f"trained {result.global_step} steps on {result.samples} samples; train loss {result.train_loss}")
    if result.eval_loss is not None:
        typer.echo(f"eval loss {result.eval_loss:.4f}")
    typer.echo(f"adapter: {result.adapter_dir}  (use it with RAPBOT_GENERATOR_ADAPTER={result.adapter_dir})")
    if result.merged_dir:
        typer.echo(f"merged model: {result.merged_dir}")


def eval_command(
    task: Annotated[str, typer.Option("--task", help="caption | recognition | qa")],
    data: Annotated[Path, typer.Option("--data", help="Eval JSON (see docs/training.md for its shape).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for predictions.json, metrics.json, metrics.md.")],
    mode: Annotated[
        str, typer.Option(help="gt: give the true concepts (skip retrieval); pipeline: detect + retrieve.")
    ] = "gt",
    profile: Annotated[
        str | None, typer.Option(help="Model profile: tiny | cpu | gpu (default RAPBOT_PROFILE).")
    ] = None,
    generator: Annotated[
        str | None, typer.Option(help="Generator spec, e.g. rap-llava:<dir> (default: the profile's).")
    ] = None,
    adapter: Annotated[
        Path | None, typer.Option(help="A trained adapter folder (rapbot train's <output_dir>/adapter).")
    ] = None,
    top_k: Annotated[
        int | None, typer.Option(help="Retrieved concepts per photo in pipeline mode (default: the model's).")
    ] = None,
) -> None:
    """Score a model on personalised captioning, recognition or multiple-choice QA."""
    # Loaded when the command runs, so `rapbot --help` stays fast.
    from model.profiles import load_bundle, settings_for
    from training.evaluate import gt_predictor, pipeline_predictor, read_eval_set, run_eval, write_reports

    if task not in ("caption", "recognition", "qa"):
        raise typer.BadParameter("choose caption, recognition or qa", param_hint="--task")
    if mode not in ("gt", "pipeline"):
        raise typer.BadParameter("choose gt or pipeline", param_hint="--mode")
    with _user_errors():
        settings = settings_for(profile)
        updates: dict[str, Any] = {}
        if generator:
            updates["generator"] = generator
        if adapter:
            updates["generator_adapter"] = adapter
        bundle = load_bundle(settings=settings.model_copy(update=updates))
        eval_set = read_eval_set(data, task)  # type: ignore[arg-type]
        predict: Callable[..., Any] = (
            gt_predictor(bundle.generator, eval_set)
            if mode == "gt"
            else pipeline_predictor(bundle, eval_set, top_k=top_k)
        )
        report = run_eval(task, eval_set, predict)  # type: ignore[arg-type]
        _, markdown = write_reports(report, out, title=f"{task} ({mode}, {bundle.profile})")
    typer.echo(markdown.read_text())
    typer.echo(json.dumps(report["metrics"]))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(data_app)
    app.command("train")(train_command)
    app.command("eval")(eval_command)
