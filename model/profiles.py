"""Profiles: the lazy bundle of the networks a deployment runs. Which ones each profile runs is the
table in model/specs.py (re-exported here)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from PIL import Image

from model.detector import YoloWorldDetector
from model.encoder import ClipEncoder
from model.faces import FaceEncoder
from model.generator import build_generator
from model.repic import build_repic_generator, is_repic_spec
from model.settings import ModelSettings
from model.specs import PROFILES, check_profile, network_specs, settings_for
from model.types import ConceptGenerator, ConceptRef, Generation, ModelBundle, NetworkSpecs
from model.weights import WeightSpec, weights_for

__all__ = [
    "PROFILES",
    "LazyGenerator",
    "NetworkSpecs",
    "build_any_generator",
    "check_profile",
    "load_bundle",
    "network_specs",
    "profile_weights",
    "settings_for",
]


def build_any_generator(spec: str, settings: ModelSettings) -> ConceptGenerator:
    """A RePIC generator (model.repic) or any other (model.generator.build_generator)."""
    if is_repic_spec(spec):
        return build_repic_generator(spec, settings)
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
    resolved = settings_for(profile, settings)
    return weights_for(resolved, network_specs(resolved))
