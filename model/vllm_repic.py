"""RePIC on the vllm engine (`gpu-repic` with RAPBOT_ENGINE=vllm): RePIC's prompt (model/repic_prompt.py)
sent to a `vllm serve` of the RePIC checkpoint (Qwen2.5-VL), which batches continuously itself.

RePIC's prompt is chat messages rendered by the model's own chat template (unlike RAP's, whose
text must pass through unchanged), so the server runs with its default template: the worker sends
the system message and one user message whose parts are RePIC's, each `{"type": "image"}` becoming
an image_url part with the photo (a lossless PNG of what the hf engine would process). The worker
keeps the checkpoint's processor (no weights) to count tokens and fit the context the same way as
the hf engine (model.generator.TransformersGenerator.prepare), and compares the prompt token ids
the server returns with its own (each run of image tokens counted as one, since the server
expands them itself): a server that renders another prompt fails with PromptMismatch.

Prefix caching: RePIC puts the reference photos BEFORE the query photo and question, so answers
about the same concepts (a chat asking again, a group photo of the same people) share their prompt
up to the query photo; with `--enable-prefix-caching` vLLM reuses that prefix's KV cache. Each
reference photo also carries its view id as vLLM's multimodal UUID (model.vllm.media_uuid), so its
encoder output is found in vLLM's caches without hashing its pixels again."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from PIL import Image

from model.bounds import bounded
from model.generator import GeneratorSpecError, LoadedGenerator, PreparedInput
from model.repic import STOP_TOKENS, TINY_QWEN_DIR_NAME, parse_repic_spec
from model.repic_prompt import REPIC_MAX_PIXELS, repic_prompt
from model.settings import ModelSettings
from model.tiny_qwen import build_tiny_qwen
from model.types import ConceptRef, GenerationRequest
from model.vllm import LoadedClient, VllmGenerator, _config_context, image_data_url, media_uuid
from model.weights import resolve_checkpoint

IMAGE_PAD = "<|image_pad|>"


class VllmRepicGenerator(VllmGenerator):
    """RePIC answering through a vLLM server: RePIC's prompt, the model's own chat template."""

    name = "vllm repic generator"

    def _checkpoint(self) -> Any:
        if self.source == "tiny-repic":
            return build_tiny_qwen(self.settings.model_dir / TINY_QWEN_DIR_NAME)
        return resolve_checkpoint(self.source, self.settings)

    def _load(self) -> LoadedGenerator:
        from transformers import AutoProcessor
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = self._checkpoint()
        config = json.loads((path / "config.json").read_text())
        processor = AutoProcessor.from_pretrained(str(path))
        if self.source != "tiny-repic":  # as RepicGenerator: at most 1024 visual tokens a photo
            processor.image_processor.size["longest_edge"] = REPIC_MAX_PIXELS
        tokenizer = processor.tokenizer
        stops = [tokenizer.convert_tokens_to_ids(token) for token in STOP_TOKENS]
        stop_ids = [s for s in stops if isinstance(s, int) and s != tokenizer.unk_token_id]
        image_token_id = config.get("image_token_id") or tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        served = self._served_context()
        context = _config_context(config) if served is None else min(served, _config_context(config))
        return LoadedClient(
            model=None,
            processor=processor,
            context=context,
            stop_ids=stop_ids,
            image_token_id=int(image_token_id),
            served_context=served,
        )

    def _encode(
        self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str
    ) -> tuple[str, dict[str, Any]]:
        """As RepicGenerator._encode (same messages, same processor), without keeping pixel
        tensors: the messages and images travel in the inputs, to be sent."""
        query = bounded(image.convert("RGB")) if image is not None else None
        references = [_with_image(c, bounded(c.image.convert("RGB"))) for c in concepts]
        prompt = repic_prompt(query, references, question)
        processor = self.loaded.processor
        text = str(processor.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False))
        encoded = processor(text=[text], images=prompt.images or None, return_tensors="pt")
        inputs: dict[str, Any] = {
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            "images": prompt.images,
            "messages": prompt.messages,
        }
        return text, inputs

    def _image_keys(self, image: Image.Image | None, concepts: Sequence[ConceptRef]) -> list[str | None]:
        return [c.view_id for c in concepts] + ([None] if image is not None else [])  # references first

    def _clean(self, text: str) -> str:
        return text.strip()

    def request_body(self, prepared: PreparedInput, request: GenerationRequest) -> dict[str, Any]:
        """RePIC's messages as OpenAI chat messages, each photo an image_url part (references with
        their view id as multimodal UUID); the server applies the model's chat template."""
        state = self.client_state
        images = list(prepared.inputs["images"])
        keys = prepared.image_keys if len(prepared.image_keys) == len(images) else [None] * len(images)
        messages: list[dict[str, Any]] = []
        position = 0
        for message in prepared.inputs["messages"]:
            content = message["content"]
            if isinstance(content, str):
                messages.append({"role": message["role"], "content": content})
                continue
            parts: list[dict[str, Any]] = []
            for part in content:
                if part["type"] == "image":
                    wire: dict[str, Any] = {"type": "image_url", "image_url": {"url": image_data_url(images[position])}}
                    if keys[position] is not None:
                        wire["uuid"] = media_uuid(self.served_model, str(keys[position]))
                    parts.append(wire)
                    position += 1
                else:
                    parts.append({"type": "text", "text": part["text"]})
            messages.append({"role": message["role"], "content": parts})
        body: dict[str, Any] = {
            "model": self.served_model,
            "messages": messages,
            "max_tokens": prepared.max_new_tokens,
            "temperature": self._temperature(request.temperature),
            "top_p": 1.0,
            "top_k": -1,
            "min_p": 0.0,
            "repetition_penalty": 1.0,
            "stop_token_ids": list(state.stop_ids),
            "skip_special_tokens": True,
            "add_special_tokens": False,  # Qwen's chat template has no BOS
            "add_generation_prompt": True,
            "return_token_ids": True,
            "n": 1,
            "stream": False,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        return body


def _with_image(concept: ConceptRef, image: Image.Image) -> ConceptRef:
    return dataclasses.replace(concept, image=image)


def build_vllm_repic_generator(spec: str, settings: ModelSettings) -> VllmRepicGenerator:
    """RePIC on the vllm engine: `spec` is "repic:<dir|hub id>" or "tiny-repic"; the served model is
    RAPBOT_VLLM_MODEL, else the spec's source. Nothing is loaded or contacted until the first answer."""
    if not settings.vllm_url:
        raise GeneratorSpecError(
            "RAPBOT_ENGINE=vllm needs RAPBOT_VLLM_URL, the `vllm serve` server's address (e.g. http://vllm:8000)."
        )
    parsed = parse_repic_spec(spec)
    source = parsed.source or "tiny-repic"
    served = settings.vllm_model or (parsed.source if parsed.source else str(settings.model_dir / TINY_QWEN_DIR_NAME))
    return VllmRepicGenerator(
        source,
        url=settings.vllm_url or "",
        served_model=served,
        settings=settings,
        max_concepts=settings.repic_max_concepts,
    )
