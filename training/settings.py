"""Settings of training/: the annotator's endpoint (from the environment, `RAPBOT_ANNOTATOR_*`) and the
two config files a user writes: one for `rapbot data build`, one for `rapbot train` (YAML or JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """A config file that cannot be read or does not validate; the message says which field and why."""


class AnnotatorSettings(BaseSettings):
    """Who writes descriptions, captions and answers for the builder.

    kind "none": only what the annotations carry; "openai": any OpenAI-compatible chat endpoint with
    vision (`base_url` like https://api.openai.com/v1, `api_key`, `model`); "local": a transformers
    VLM read from `local_model` (a directory or hub id)."""

    model_config = SettingsConfigDict(env_prefix="RAPBOT_ANNOTATOR_", env_file=".env", extra="ignore")

    kind: Literal["none", "openai", "local"] = "none"
    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    max_tokens: int = Field(default=300, ge=1)
    temperature: float = Field(default=0.2, ge=0.0)
    local_model: str | None = None
    device: str = "auto"
    # Descriptions already written are read from here instead of asking again.
    cache_file: Path | None = None


class TaskRatios(BaseModel):
    """How many samples of each task to make per annotated concept occurrence (fractions are drawn
    with the builder's seed; e.g. 0.5 means one sample for every second occurrence)."""

    model_config = ConfigDict(extra="forbid")

    recognition_positive: float = Field(default=1.0, ge=0)
    recognition_negative: float = Field(default=1.0, ge=0)
    grounding: float = Field(default=1.0, ge=0)
    caption: float = Field(default=0.5, ge=0)
    description: float = Field(default=0.2, ge=0)
    qa: float = Field(default=0.5, ge=0)
    qa_text_only: float = Field(default=0.2, ge=0)


class BuildConfig(BaseModel):
    """`rapbot data build --config FILE` (every field also has a command-line option)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    ratios: TaskRatios = Field(default_factory=TaskRatios)
    # Share of samples given noise concepts in `extra` with the answer unchanged (paper: negatives).
    noise_ratio: float = Field(default=0.5, ge=0, le=1)
    max_num_concept: int = Field(default=2, ge=1)  # 2 RAP-LLaVA, 3 RAP-Phi3-V: larger samples are skipped
    # Augmentation of concept crops: each crop is flipped / rotated with these probabilities.
    flip_prob: float = Field(default=0.5, ge=0, le=1)
    rotate_prob: float = Field(default=0.5, ge=0, le=1)
    max_rotation_deg: float = Field(default=30.0, ge=0, le=180)
    min_crop_px: int = Field(default=8, ge=1)
    crop_format: Literal["jpg", "png"] = "jpg"


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=128, ge=1)
    alpha: int = Field(default=256, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)


class TrainConfig(BaseModel):
    """`rapbot train --config FILE`. Defaults are the RAP release's hyperparameters."""

    model_config = ConfigDict(extra="forbid")

    base_model: str  # a transformers Llava directory or hub id
    data: Path  # the builder's samples JSON (RAP-260K schema)
    output_dir: Path
    image_root: Path | None = None  # where the samples' image paths are relative to (default: beside data)
    eval_data: Path | None = None
    template: Literal["vicuna_v1", "phi3"] = "vicuna_v1"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    learning_rate: float = Field(default=1e-4, gt=0)
    projector_learning_rate: float = Field(default=2e-5, ge=0)  # 0 freezes the projector
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation: int = Field(default=16, ge=1)  # 4 x 16 = the release's batch of 64 on one GPU
    max_length: int = Field(default=2048, ge=16)
    weight_decay: float = Field(default=0.0, ge=0)
    gradient_checkpointing: bool = True
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    logging_steps: int = Field(default=10, ge=1)
    eval_steps: int = Field(default=200, ge=1)
    save_steps: int = Field(default=500, ge=1)
    save_total_limit: int | None = 3
    resume: bool | Path = False  # True: the latest checkpoint in output_dir; a path: that checkpoint
    merge: bool = False  # also write the base with the adapter merged into output_dir/merged
    seed: int = 0
    dataloader_workers: int = Field(default=0, ge=0)
    device: str = "auto"
    report_to: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _steps_or_epochs(self) -> TrainConfig:
        if self.max_steps == 0:
            raise ValueError("max_steps must be positive, or -1 to train for `epochs`")
        return self


Model = TypeVar("Model", bound=BaseModel)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or JSON config file into a dict."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    kind = "YAML" if path.suffix.lower() in {".yaml", ".yml"} else "JSON"
    try:
        data = yaml.safe_load(text) if kind == "YAML" else json.loads(text)
    except Exception as exc:  # json.JSONDecodeError or yaml.YAMLError: both mean a malformed file
        raise ConfigError(f"{path}: not valid {kind}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of settings")
    return data


def load_config(model: type[Model], path: Path | None, overrides: dict[str, Any] | None = None) -> Model:
    """Validate a config file (plus command-line overrides) into `model`; relative paths in the file
    are taken relative to the file's folder, so a config can travel with its data."""
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    if path is not None:
        base = path.parent
        for key, field in model.model_fields.items():
            value = data.get(key)
            if isinstance(value, str) and _is_path_field(field.annotation) and not Path(value).is_absolute():
                data[key] = str(base / value)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{problems}") from exc


def _is_path_field(annotation: Any) -> bool:
    return "Path" in str(annotation)
