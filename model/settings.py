"""Settings of model/: which networks to load, where their weights live, and decoding defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["tiny", "cpu", "gpu"]


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

    @property
    def hf_cache_dir(self) -> Path:
        """Hugging Face hub cache inside the model dir (used by open_clip and transformers)."""
        return self.model_dir / "hf"

    @property
    def ultralytics_dir(self) -> Path:
        return self.model_dir / "ultralytics"
