"""Settings of model/: which networks to load, where their weights live, and decoding defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["tiny", "cpu", "gpu", "gpu-repic", "tiny-repic"]
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
    # "tiny" | "rap-llava:<dir|hub id>" | "rap-phi3:<dir|hub id>" | "hf:<dir|hub id>" | "repic:<dir|hub id>"
    # | "tiny-repic"
    generator: str | None = None
    generator_adapter: Path | None = None  # a peft LoRA directory applied on top of the generator
    # How many recognised concepts a RePIC generator gets per photo (RePIC was evaluated on 4);
    # the others are named in the reply as left out.
    repic_max_concepts: int = Field(default=4, ge=1, le=16)
    detector_conf: float = Field(default=0.1, ge=0.0, le=1.0)
    detector_max_boxes: int = Field(default=20, ge=1)
    # People by face (model/faces.py, dlib's real weights, every profile): false turns it off.
    faces: bool = True
    # dlib's same-person rule: raw descriptors closer than this (euclidean) are one person.
    face_max_distance: float = Field(default=0.6, gt=0.0, le=2.0)
    # HOG detection score a face needs (real faces scored 0.18-1.42 on the test photos, a mission
    # patch 0.12-0.13; a missed face only means falling back to CLIP, a false one rules people out).
    face_min_score: float = Field(default=0.3)
    face_upsample: int = Field(default=1, ge=0, le=2)  # 1: faces down to ~40 px
    face_max_side: int = Field(default=1280, ge=64, le=4096)  # faces are looked for on a copy this big
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
    # Generation's own window (ms): longer, since a generation batch runs for a whole answer and a
    # request that just misses it waits for all of it. Never paid for nothing: a batcher stops
    # waiting once every request in flight in this process is in a batcher (its own or another
    # stage's), so a lone request never waits.
    generate_wait_ms: float = Field(default=50.0, ge=0.0, le=1000.0)
    # Projected image features of stored reference photos, reused by every prompt that shows them
    # (model/feature_cache.py): at most this many MB on the generator's device; 0 turns it off.
    view_cache_mb: float = Field(default=512.0, ge=0.0)
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
