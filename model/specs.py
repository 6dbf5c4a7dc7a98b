"""The profile table: which encoder, detector and generator each profile (RAPBOT_PROFILE) runs, with
the RAPBOT_ENCODER / _DETECTOR / _GENERATOR overrides. Plain strings only: model/weights.py resolves
their weights and model/profiles.py builds the networks, both on top of this module."""

from __future__ import annotations

from dataclasses import replace
from typing import get_args

from model.settings import ModelSettings, Profile
from model.tiny import TINY_DETECTOR_SPEC, TINY_DETECTOR_TEXT_SPEC, TINY_ENCODER_SPEC
from model.types import NetworkSpecs

PROFILES: tuple[str, ...] = get_args(Profile)

DEFAULT_TEXT_SPEC = "open_clip:ViT-B-32/openai"  # YOLO-World was trained on OpenAI CLIP B/32 text features

_DEFAULTS: dict[str, NetworkSpecs] = {
    "tiny": NetworkSpecs(TINY_ENCODER_SPEC, TINY_DETECTOR_SPEC, TINY_DETECTOR_TEXT_SPEC, "tiny"),
    "cpu": NetworkSpecs(
        "open_clip:ViT-B-32/openai",
        "yolov8s-worldv2.pt",
        DEFAULT_TEXT_SPEC,
        "hf:HuggingFaceTB/SmolVLM-256M-Instruct",
    ),
    "gpu": NetworkSpecs(
        "open_clip:ViT-L-14-336/openai",
        "yolov8x-worldv2.pt",
        DEFAULT_TEXT_SPEC,
        "rap-phi3:Hoar012/RAP-Phi3-mini",
    ),
    # RePIC (Qwen2.5-VL-7B post-trained for personalization) on RAP's retriever and detector.
    "gpu-repic": NetworkSpecs(
        "open_clip:ViT-L-14-336/openai",
        "yolov8x-worldv2.pt",
        DEFAULT_TEXT_SPEC,
        "repic:Yeongtak/RePIC_Qwen2.5VL_7B",
    ),
    "tiny-repic": NetworkSpecs(TINY_ENCODER_SPEC, TINY_DETECTOR_SPEC, TINY_DETECTOR_TEXT_SPEC, "tiny-repic"),
}


def check_profile(profile: str) -> str:
    if profile not in _DEFAULTS:
        raise ValueError(f"Unknown model profile {profile!r}; choose one of: {', '.join(PROFILES)}.")
    return profile


def network_specs(settings: ModelSettings) -> NetworkSpecs:
    """The profile's networks with RAPBOT_ENCODER / _DETECTOR / _GENERATOR overrides applied."""
    defaults = _DEFAULTS[check_profile(settings.profile)]
    return replace(
        defaults,
        encoder=settings.encoder or defaults.encoder,
        detector=settings.detector or defaults.detector,
        generator=settings.generator or defaults.generator,
    )


def settings_for(profile: str | None = None, settings: ModelSettings | None = None) -> ModelSettings:
    base = settings or ModelSettings()
    if profile is None:
        return base
    return base.model_copy(update={"profile": check_profile(profile)})
