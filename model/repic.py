"""The RePIC generator: Qwen2.5-VL post-trained for personalized captions (RePIC, NeurIPS 2025,
Yeongtak/RePIC_Qwen2.5VL_7B), with RePIC's own prompt (model/repic_prompt.py) and up to 4 concepts
a photo (RAPBOT_REPIC_MAX_CONCEPTS), where RAP-LLaVA takes 2 and RAP-Phi3-V 3.

Specs: "repic:<dir|hub id>" (resolved like every generator: RAPBOT_MODEL_DIR, then the hub) and
"tiny-repic" (model/tiny_qwen.py: a random-weight Qwen2.5-VL built in code). Decoding, batching
and context fitting are model.generator.TransformersGenerator's."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from model.bounds import bounded
from model.generator import LoadedGenerator, TransformersGenerator, apply_adapter, context_length
from model.repic_prompt import REPIC_MAX_PIXELS, repic_prompt
from model.settings import ModelSettings
from model.tiny_qwen import build_tiny_qwen
from model.types import ConceptRef
from model.weights import resolve_checkpoint

REPIC_KIND = "repic"
TINY_REPIC = "tiny-repic"
TINY_QWEN_DIR_NAME = "tiny-qwen2.5-vl"
STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")


class RepicSpecError(ValueError):
    """A RePIC generator spec that names nothing."""


@dataclass(frozen=True)
class RepicSpec:
    source: str  # a directory or hub id; "" for the tiny build


def is_repic_spec(spec: str) -> bool:
    kind = spec.strip().partition(":")[0]
    return kind in (REPIC_KIND, TINY_REPIC)


def parse_repic_spec(spec: str) -> RepicSpec:
    kind, sep, source = spec.strip().partition(":")
    if kind == TINY_REPIC and not sep:
        return RepicSpec("")
    if kind == REPIC_KIND and source.strip():
        return RepicSpec(source.strip())
    raise RepicSpecError(f"Unknown RePIC generator {spec!r}: use 'repic:<dir or hub id>' or 'tiny-repic'.")


class RepicGenerator(TransformersGenerator):
    """RePIC (or any Qwen2.5-VL checkpoint) answering with RePIC's prompt: reference photos with
    their names and infos, then the query photo and the question."""

    name = "repic generator"

    def _image_keys(self, image: Image.Image | None, concepts: Sequence[ConceptRef]) -> list[str | None]:
        return [c.view_id for c in concepts] + ([None] if image is not None else [])  # references first

    def _load(self) -> LoadedGenerator:
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a load bar is noise in a chat console and in worker logs
        path = self._checkpoint()
        # On a GPU, load the weights straight there (7B would not fit twice in host memory).
        placement: dict[str, Any] = {"device_map": self.device} if self.device.startswith("cuda") else {}
        model: Any = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(path), dtype=self.dtype, **placement)
        if self.adapter is not None:
            model = apply_adapter(model, self.adapter)
        processor = AutoProcessor.from_pretrained(str(path))
        if self.source:  # the real model: RePIC's evaluation caps each photo at 1024 visual tokens
            processor.image_processor.size["longest_edge"] = REPIC_MAX_PIXELS
        tokenizer = processor.tokenizer
        stops = [tokenizer.convert_tokens_to_ids(token) for token in STOP_TOKENS]
        stop_ids = [s for s in stops if isinstance(s, int) and s != tokenizer.unk_token_id]
        return LoadedGenerator(model.to(self.device).eval(), processor, context_length(model), stop_ids)

    def _checkpoint(self) -> Path:
        if not self.source:
            return build_tiny_qwen(self.settings.model_dir / TINY_QWEN_DIR_NAME)
        return resolve_checkpoint(self.source, self.settings)

    def _encode(
        self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str
    ) -> tuple[str, dict[str, Any]]:
        query = bounded(image.convert("RGB")) if image is not None else None
        references = [_with_image(c, bounded(c.image.convert("RGB"))) for c in concepts]
        prompt = repic_prompt(query, references, question)
        processor = self.loaded.processor
        text = str(processor.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False))
        inputs = processor(text=[text], images=prompt.images or None, return_tensors="pt")
        return text, dict(inputs)


def _with_image(concept: ConceptRef, image: Image.Image) -> ConceptRef:
    return dataclasses.replace(concept, image=image)


def build_repic_generator(
    spec: str, settings: ModelSettings | None = None, *, adapter: Path | str | None = None
) -> RepicGenerator:
    """The RePIC generator named by `spec`. Nothing loads until first use."""
    settings = settings or ModelSettings()
    parsed = parse_repic_spec(spec)
    return RepicGenerator(parsed.source, settings=settings, max_concepts=settings.repic_max_concepts, adapter=adapter)
