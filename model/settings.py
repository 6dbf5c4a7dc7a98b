"""Settings of model/: which networks to load, where their weights live, and decoding defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["tiny", "cpu", "gpu"]
EngineKind = Literal["hf", "vllm"]


def default_model_dir() -> Path:
    return Path(platformdirs.user_data_dir("rapbot")) / "models"


class ModelSettings(BaseSettings):
    """Every field is read from `RAPBOT_<FIELD>` (or `.env`). Network fields left unset take the
    profile's choice (see model/profiles.py)."""

    model_config = SettingsConfigDict(env_prefix="RAPBOT_", env_file=".env", extra="ignore")

    profile: Profile = "cpu"
    # Weights are looked up here first (RAPBOT_MODEL_DIR), then on the hub.
    model_dir: Path = Field(default_factory=default_model_dir)
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:1"
    dtype: str = "auto"  # "auto" | "float32" | "bfloat16" | "float16"
    # Per-network overrides of the profile, e.g. "open_clip:ViT-L-14-336/openai".
    encoder: str | None = None
    detector: str | None = None  # an ultralytics weight name or path, e.g. "yolov8x-worldv2.pt"
    generator: str | None = None  # "tiny" | "rap-llava:<dir|hub id>" | "rap-phi3:<dir|hub id>" | "hf:<dir|hub id>"
    generator_adapter: Path | None = None  # a peft LoRA directory applied on top of the generator
    detector_conf: float = Field(default=0.1, ge=0.0, le=1.0)
    detector_max_boxes: int = Field(default=20, ge=1)
    temperature: float = Field(default=0.2, ge=0.0)
    max_new_tokens: int = Field(default=512, ge=1)
    # Greedy decoding and deterministic kernels, so the same input gives the same answer.
    deterministic: bool = False
    # The serving engine (model/engine.py): "hf" batches concurrent requests in this process;
    # "vllm" sends generation to a `vllm serve` server (RAPBOT_VLLM_URL), detection and embedding
    # still batch here.
    engine: EngineKind = "hf"
    # Concurrent requests share one forward pass: up to this many per batch...
    max_batch: int = Field(default=16, ge=1)
    # ...gathered for at most this long after the first one arrives (ms; 0 = only what is queued).
    batch_wait_ms: float = Field(default=5.0, ge=0.0, le=1000.0)
    # The vLLM OpenAI-compatible server the "vllm" engine calls, and the model name it serves.
    vllm_url: str | None = None
    vllm_model: str | None = None
    vllm_timeout_s: float = Field(default=300.0, gt=0)

    @property
    def hf_cache_dir(self) -> Path:
        """Hugging Face hub cache inside the model dir (used by open_clip and transformers)."""
        return self.model_dir / "hf"

    @property
    def ultralytics_dir(self) -> Path:
        return self.model_dir / "ultralytics"
