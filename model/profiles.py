"""Profiles: which encoder, detector and generator a deployment runs, and the lazy bundle of them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, get_args

from PIL import Image

from model.detector import DEFAULT_TEXT_SPEC, YoloWorldDetector
from model.encoder import ClipEncoder
from model.faces import FaceEncoder
from model.settings import ModelSettings, Profile
from model.tiny import TINY_DETECTOR_SPEC, TINY_DETECTOR_TEXT_SPEC, TINY_ENCODER_SPEC
from model.types import ConceptGenerator, ConceptRef, Generation, ModelBundle

if TYPE_CHECKING:
    from model.weights import WeightSpec

PROFILES: tuple[str, ...] = get_args(Profile)


@dataclass(frozen=True)
class NetworkSpecs:
    encoder: str  # "open_clip:<model>/<tag>"
    detector: str  # ultralytics weight or yaml
    detector_text: str  # open_clip text encoder for the detector's class names (512-d)
    generator: str  # see build_any_generator


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


def build_any_generator(spec: str, settings: ModelSettings) -> ConceptGenerator:
    """A RePIC generator (model.repic) or any other (model.generator.build_generator)."""
    from model.repic import build_repic_generator, is_repic_spec

    if is_repic_spec(spec):
        return build_repic_generator(spec, settings)
    from model.generator import build_generator

    return build_generator(spec, settings)


class LazyGenerator:
    """Builds the generator (build_any_generator) on first use, so constructing a
    bundle imports no transformers and loads no weights."""

    def __init__(self, spec: str, settings: ModelSettings) -> None:
        self.spec = spec
        self.settings = settings
        self._built: ConceptGenerator | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> ConceptGenerator:
        if self._built is None:
            with self._lock:
                if self._built is None:
                    self._built = build_any_generator(self.spec, self.settings)
        return self._built

    @property
    def is_built(self) -> bool:
        return self._built is not None

    @property
    def max_concepts(self) -> int:
        return self.built.max_concepts

    def generate(
        self,
        image: Image.Image | None,
        concepts: Sequence[ConceptRef],
        question: str,
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> Generation:
        return self.built.generate(
            image, concepts, question, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
        )

    def __getattr__(self, name: str) -> object:
        # Anything else the real generator offers (load, unload, ...) goes to it.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.built, name)


def load_bundle(profile: str | None = None, settings: ModelSettings | None = None) -> ModelBundle:
    """The three networks of `profile` (default: RAPBOT_PROFILE) and the face finder. Loads
    nothing: each network loads its weights on first use."""
    resolved = settings_for(profile, settings)
    specs = network_specs(resolved)
    encoder = ClipEncoder(specs.encoder, resolved)
    shared = encoder if specs.detector_text == specs.encoder else None  # one ViT-B-32 in the cpu profile
    detector = YoloWorldDetector(specs.detector, resolved, text_spec=specs.detector_text, text_encoder=shared)
    generator = LazyGenerator(specs.generator, resolved)
    # dlib's face weights are real and small in every profile, tiny included (RAPBOT_FACES=false: off).
    faces = FaceEncoder(resolved) if resolved.faces else None
    return ModelBundle(profile=resolved.profile, encoder=encoder, detector=detector, generator=generator, faces=faces)


def profile_weights(profile: str | None = None, settings: ModelSettings | None = None) -> list[WeightSpec]:
    """Every weight the profile needs (name, source, local path, present?). Never downloads."""
    from model.weights import weights_for

    resolved = settings_for(profile, settings)
    return weights_for(resolved, network_specs(resolved))
