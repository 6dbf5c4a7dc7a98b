"""Tiny random-weight builds of the real architectures, for tests and offline smoke runs.

Every build is seeded so that any process (a Celery worker, a test, a bench) builds bit-identical
weights: embeddings stored by one process are searchable by another."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from model.ultralytics_offline import import_ultralytics_offline

TINY_CLIP = "rapbot-tiny"  # 768-d like ViT-L-14-336, so stored views have the real model's width
TINY_TEXT_512 = "rapbot-tiny-text512"  # 512-d like ViT-B-32, for YOLO-World class features
TINY_ENCODER_SPEC = f"open_clip:{TINY_CLIP}/random"
TINY_DETECTOR_TEXT_SPEC = f"open_clip:{TINY_TEXT_512}/random"
TINY_DETECTOR_SPEC = "yolov8s-worldv2.yaml"  # the real YOLO-World v2 S graph, random weights
RANDOM_TAG = "random"
DEFAULT_SEED = 1234

_TINY_CONFIGS: dict[str, dict[str, Any]] = {
    TINY_CLIP: {
        "embed_dim": 768,
        "vision_cfg": {"image_size": 336, "layers": 2, "width": 64, "patch_size": 48},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
    },
    TINY_TEXT_512: {
        "embed_dim": 512,
        "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
    },
}

_register_lock = threading.Lock()
_registered = False

T = TypeVar("T")


def register_tiny_clip_configs() -> None:
    """Make the tiny configs known to open_clip (idempotent, thread-safe)."""
    global _registered
    with _register_lock:
        if _registered:
            return
        import open_clip

        # open_clip reads the configs when they are added and keeps them; the folder goes at once
        # (no rapbot-clipcfg-* left in the temp dir by every process that builds the tiny networks).
        with tempfile.TemporaryDirectory(prefix="rapbot-clipcfg-") as tmp:
            folder = Path(tmp)
            for name, config in _TINY_CONFIGS.items():
                (folder / f"{name}.json").write_text(json.dumps(config))
            open_clip.add_model_config(folder)
        _registered = True


@contextmanager
def seeded(seed: int = DEFAULT_SEED) -> Iterator[None]:
    """Seed torch's CPU generator for a build without disturbing the caller's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class _DropRandomInitWarning(logging.Filter):
    # open_clip warns on the root logger that no weights were loaded: here that is the point.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")


def build_seeded(build: Callable[[], T], seed: int = DEFAULT_SEED) -> T:
    """Run `build` (which must create its weights on CPU) under a fixed seed."""
    quiet = _DropRandomInitWarning()
    logging.getLogger().addFilter(quiet)
    try:
        with seeded(seed):
            return build()
    finally:
        logging.getLogger().removeFilter(quiet)


# Contrastive-head bias of the tiny detector. ultralytics initialises it at -10 (scores ~5e-5, so a
# random net finds nothing); at this value, after BatchNorm calibration, random-weight scores straddle
# the default conf 0.1 and depend on the photo, so the tiny pipeline exercises real boxes.
TINY_DETECTOR_CLASS_BIAS = -5.0
_CALIBRATION_SIZE = 320


def build_random_yolo_world(config: str = TINY_DETECTOR_SPEC, seed: int = DEFAULT_SEED) -> Any:
    """A YOLO-World model of the real graph in `config` (an ultralytics yaml) with seeded random
    weights, its BatchNorm statistics calibrated on ultralytics' two bundled photos so that its
    features (and boxes) vary with the image. Built offline: nothing is downloaded."""
    ultralytics = import_ultralytics_offline()
    yolo = build_seeded(lambda: ultralytics.YOLOWorld(config, verbose=False), seed)
    _calibrate_batchnorm(yolo.model)
    for head in yolo.model.model[-1].cv4:
        head.bias.data.fill_(TINY_DETECTOR_CLASS_BIAS)
    return yolo


def _calibrate_batchnorm(network: Any) -> None:
    """Set every BatchNorm's running statistics from one forward pass over real photos (what
    training would have done), so activations are normalised instead of vanishing or exploding."""
    import torch
    from ultralytics.utils import ASSETS

    photos = [Image.open(ASSETS / name).convert("RGB") for name in ("bus.jpg", "zidane.jpg")]
    size = (_CALIBRATION_SIZE, _CALIBRATION_SIZE)
    batch = torch.stack(
        [torch.from_numpy(np.array(photo.resize(size))).permute(2, 0, 1).float() / 255.0 for photo in photos]
    )
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the calibration batch
    network.train()
    with torch.no_grad():
        network(batch)
    network.eval()
