"""CLIP image/text encoder on open_clip: the key of every remembered view and every query crop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from model.base import InferenceModel
from model.bounds import bounded
from model.settings import ModelSettings
from model.tiny import RANDOM_TAG, build_seeded, register_tiny_clip_configs
from model.weights import (
    WeightsMissing,
    hub_offline,
    local_open_clip_file,
    parse_clip_spec,
    pull_open_clip,
)

log = logging.getLogger(__name__)


@dataclass
class LoadedClip:
    model: Any  # open_clip.CLIP
    preprocess: Any  # PIL image -> CHW tensor (the checkpoint's resize, centre crop, normalisation)
    tokenizer: Any


class ClipEncoder(InferenceModel[LoadedClip]):
    """`spec` is "open_clip:<model>/<tag>": tag "openai" (or any open_clip tag) loads real weights
    from the model dir first, then the hub; "random" builds seeded random weights (identical in
    every process); a file path loads that checkpoint. `text_only` drops the image tower after
    loading (for detector class names)."""

    name = "encoder"

    def __init__(
        self,
        spec: str,
        settings: ModelSettings | None = None,
        *,
        batch_size: int = 16,
        text_only: bool = False,
        device: str | None = None,
        dtype: str | None = None,
    ) -> None:
        self.settings = settings or ModelSettings()
        super().__init__(device or self.settings.device, dtype or self.settings.dtype)
        self.model_name, self.tag = parse_clip_spec(spec)  # fails early on a malformed spec
        self.encoder_id = spec
        self.batch_size = batch_size
        self.text_only = text_only
        self.name = f"encoder {spec}"
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """Embedding width, read from the model config without loading weights."""
        if self._dim is None:
            import open_clip

            register_tiny_clip_configs()
            config = open_clip.get_model_config(self.model_name)
            if config is None:
                raise ValueError(f"open_clip has no model named {self.model_name!r} (encoder {self.encoder_id}).")
            self._dim = int(config["embed_dim"])
        return self._dim

    def _checkpoint(self) -> Path:
        local = local_open_clip_file(self.model_name, self.tag, self.settings)
        if local is not None:
            return local
        if hub_offline():
            raise WeightsMissing(self.encoder_id, self.settings.profile, "offline and not in the model dir")
        return pull_open_clip(self.model_name, self.tag, self.settings)

    def _load(self) -> LoadedClip:
        import open_clip
        from open_clip.pretrained import get_pretrained_cfg

        register_tiny_clip_configs()
        if self.tag == RANDOM_TAG:
            model, _, preprocess = build_seeded(
                lambda: open_clip.create_model_and_transforms(self.model_name, pretrained=None)
            )
        else:
            checkpoint = self._checkpoint()
            # A file path loses the tag's settings: pass its activation and preprocessing explicitly.
            tag_cfg = get_pretrained_cfg(self.model_name, self.tag) if not Path(self.tag).is_file() else {}
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name,
                pretrained=str(checkpoint),
                force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                image_mean=tag_cfg.get("mean"),
                image_std=tag_cfg.get("std"),
                image_interpolation=tag_cfg.get("interpolation"),
                image_resize_mode=tag_cfg.get("resize_mode"),
            )
        if self.text_only:
            model.visual = None
        model = model.to(device=self.device, dtype=self.dtype).eval()
        return LoadedClip(model, preprocess, open_clip.get_tokenizer(self.model_name))

    def embed_images(self, images: Sequence[Image.Image]) -> npt.NDArray[np.float32]:
        """One L2-normalised float32 row per image, in order."""
        if self.text_only:
            raise RuntimeError(f"{self.encoder_id} was loaded for text only.")
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        loaded = self.loaded
        rows: list[npt.NDArray[np.float32]] = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = images[start : start + self.batch_size]
                pixels = torch.stack([loaded.preprocess(_bounded_rgb(image)) for image in batch])
                features = loaded.model.encode_image(pixels.to(device=self.device, dtype=self.dtype))
                rows.append(_normalised(features))
        return np.concatenate(rows)

    def embed_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised float32 row per text, in order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        loaded = self.loaded
        rows: list[npt.NDArray[np.float32]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = loaded.tokenizer(list(texts[start : start + self.batch_size])).to(self.device)
                rows.append(_normalised(loaded.model.encode_text(tokens)))
        return np.concatenate(rows)


def _bounded_rgb(image: Image.Image) -> Image.Image:
    """The image as CLIP's preprocessing may take it at bounded cost: its "shortest side to 224 px"
    resize turns a 40000x1 strip into a ~9 M pixel wide one, so any image is first brought within
    model.bounds' longest side and aspect (letterboxed in CLIP's mean colour, which normalises to
    zero). A photo within both bounds is only converted to RGB, exactly as before."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return bounded(rgb)


def _normalised(features: Any) -> npt.NDArray[np.float32]:
    array: npt.NDArray[np.float32] = features.float().cpu().numpy().astype(np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    normalised: npt.NDArray[np.float32] = array / np.maximum(norms, 1e-12)
    return normalised
