"""Annotators write what the annotations lack: a concept's description, a caption or description of
a photo naming its concepts, an answer to a seed question. One small interface, two implementations
(any OpenAI-compatible chat endpoint with vision; a local transformers VLM) and a cache in front.

The RAP authors used Gemini-1.5 in this role (paper section 3.2)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from PIL import Image

from model.base import pick_device, pick_dtype
from model.prompt import IMAGE_TOKEN, VICUNA_V1
from training.settings import AnnotatorSettings

log = logging.getLogger(__name__)


class AnnotatorError(RuntimeError):
    """The annotator could not answer; the message is safe to show (it never holds the API key)."""


class Annotator(Protocol):
    id: str  # identifies the model behind it, part of the cache key

    def ask(self, prompt: str, images: Sequence[Image.Image]) -> str: ...


@dataclass(frozen=True)
class ConceptNote:
    name: str
    info: str
    category: str


# --- what the builder asks ---------------------------------------------------------------------


def describe_concept(annotator: Annotator, crop: Image.Image, category: str) -> str:
    prompt = (
        f"This is a photo of a {category}. Describe its visual appearance in one or two sentences "
        "(colour, shape, material, distinctive marks) so someone could recognise it in other photos. "
        "Do not mention the background."
    )
    return annotator.ask(prompt, [crop]).strip()


def _concept_lines(concepts: Sequence[ConceptNote]) -> str:
    return "\n".join(f"{i}. <{c.name}> ({c.category}): {c.info}" for i, c in enumerate(concepts, 1))


def caption_image(
    annotator: Annotator, image: Image.Image, concepts: Sequence[ConceptNote], crops: Sequence[Image.Image]
) -> str:
    prompt = (
        "The first image is a photo. The next images show personal concepts that appear in it:\n"
        f"{_concept_lines(concepts)}\n"
        "Write one short caption of the photo that refers to each concept by its name in angle brackets, "
        "exactly as written above (e.g. <name>). Reply with the caption only."
    )
    return annotator.ask(prompt, [image, *crops]).strip()


def describe_image(
    annotator: Annotator, image: Image.Image, concepts: Sequence[ConceptNote], crops: Sequence[Image.Image]
) -> str:
    prompt = (
        "The first image is a photo. The next images show personal concepts that appear in it:\n"
        f"{_concept_lines(concepts)}\n"
        "Describe the photo in a few sentences, referring to each concept by its name in angle brackets "
        "exactly as written above (e.g. <name>). Reply with the description only."
    )
    return annotator.ask(prompt, [image, *crops]).strip()


def answer_question(
    annotator: Annotator, question: str, concepts: Sequence[ConceptNote], image: Image.Image | None
) -> str:
    """Answer a seed question about the concepts: from the photo when given, else from their info only."""
    source = "the photo" if image is not None else "the information above only"
    prompt = (
        f"Personal concepts:\n{_concept_lines(concepts)}\n"
        f"Answer this question using {source}, in one or two sentences, referring to concepts by their "
        f"names in angle brackets:\n{question}"
    )
    return annotator.ask(prompt, [image] if image is not None else []).strip()


# --- the cache ---------------------------------------------------------------------------------


def image_digest(image: Image.Image) -> str:
    h = hashlib.sha256(f"{image.mode}{image.size}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


class CachedAnnotator:
    """Remembers every answer in a JSON-lines file keyed by (annotator, prompt, images), so a rebuild
    never pays twice and an interrupted build resumes where it stopped."""

    def __init__(self, inner: Annotator, cache_file: Path) -> None:
        self.inner = inner
        self.id = inner.id
        self.cache_file = cache_file
        self._cache: dict[str, str] = {}
        if cache_file.is_file():
            for line in cache_file.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._cache[row["key"]] = row["text"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interrupted run: ask again

    def key(self, prompt: str, images: Sequence[Image.Image]) -> str:
        h = hashlib.sha256(self.inner.id.encode())
        h.update(prompt.encode())
        for img in images:
            h.update(image_digest(img).encode())
        return h.hexdigest()

    def ask(self, prompt: str, images: Sequence[Image.Image]) -> str:
        key = self.key(prompt, images)
        if key in self._cache:
            return self._cache[key]
        text = self.inner.ask(prompt, images)
        self._cache[key] = text
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        with self.cache_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "text": text}, ensure_ascii=False) + "\n")
        return text


# --- OpenAI-compatible endpoint ----------------------------------------------------------------


def image_data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def build_chat_request(
    prompt: str, images: Sequence[Image.Image], *, model: str, max_tokens: int, temperature: float
) -> dict[str, Any]:
    """The /chat/completions body: one user message with the text, then each image as a data URL."""
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    content += [{"type": "image_url", "image_url": {"url": image_data_url(img)}} for img in images]
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }


class OpenAICompatibleAnnotator:
    """Any endpoint that speaks OpenAI's chat completions with image inputs (OpenAI, Gemini's
    OpenAI-compatible API, vLLM, Ollama, ...). Retries on rate limits, server errors and timeouts."""

    def __init__(self, settings: AnnotatorSettings, *, backoff_s: float = 1.0) -> None:
        self.settings = settings
        self.id = f"openai:{settings.base_url.rstrip('/')}/{settings.model}"
        self._backoff_s = backoff_s
        headers = {"Content-Type": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.Client(
            base_url=settings.base_url.rstrip("/") + "/", headers=headers, timeout=settings.timeout_s
        )

    def ask(self, prompt: str, images: Sequence[Image.Image]) -> str:
        body = build_chat_request(
            prompt,
            images,
            model=self.settings.model,
            max_tokens=self.settings.max_tokens,
            temperature=self.settings.temperature,
        )
        where = f"annotator endpoint {self.settings.base_url}"
        last = ""
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                time.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post("chat/completions", json=body)
            except httpx.TimeoutException:
                last = f"{where} timed out after {self.settings.timeout_s:g} s"
                continue
            except httpx.HTTPError as exc:
                raise AnnotatorError(f"cannot reach {where}: {exc.__class__.__name__}") from None
            if response.status_code == 429 or response.status_code >= 500:
                last = f"{where} answered HTTP {response.status_code}"
                continue
            if response.status_code in (401, 403):
                raise AnnotatorError(
                    f"{where} refused the API key (HTTP {response.status_code}); check RAPBOT_ANNOTATOR_API_KEY"
                )
            if response.status_code != 200:
                raise AnnotatorError(f"{where} answered HTTP {response.status_code}: {_error_text(response)}")
            try:
                text = response.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                raise AnnotatorError(f"{where} sent a reply without choices[0].message.content") from None
            if not isinstance(text, str) or not text.strip():
                raise AnnotatorError(f"{where} sent an empty answer")
            return text
        raise AnnotatorError(f"{last}; gave up after {self.settings.max_retries + 1} attempts")

    def close(self) -> None:
        self._client.close()


def _error_text(response: Any) -> str:
    try:
        message = response.json().get("error", {}).get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return str(message)[:200] or "no error message"


# --- local transformers VLM --------------------------------------------------------------------


class LocalVLMAnnotator:
    """A transformers image-text-to-text model (LLaVA, Qwen2-VL, Idefics, ...) read from a directory
    or the hub. Greedy decoding, so a rebuild gives the same text."""

    def __init__(self, model_path: str, *, device: str = "auto", max_new_tokens: int = 300) -> None:
        self.id = f"local:{model_path}"
        self.model_path = model_path
        self.device_pref = device
        self.max_new_tokens = max_new_tokens
        self._loaded: tuple[Any, Any] | None = None

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from transformers import AutoModelForImageTextToText, AutoProcessor

            device = pick_device(self.device_pref)
            try:
                processor = AutoProcessor.from_pretrained(self.model_path)
                model = AutoModelForImageTextToText.from_pretrained(self.model_path, dtype=pick_dtype(device))
            except OSError as exc:
                raise AnnotatorError(
                    f"cannot load the local annotator model {self.model_path!r}: {exc}. "
                    "Download it first (e.g. `huggingface-cli download <id>`) "
                    "and point RAPBOT_ANNOTATOR_LOCAL_MODEL at it."
                ) from None
            self._loaded = (processor, model.to(device).eval())  # type: ignore[arg-type]
        return self._loaded

    def _render(self, processor: Any, prompt: str, n_images: int) -> str:
        if getattr(processor, "chat_template", None):
            content: list[dict[str, str]] = [{"type": "image"} for _ in range(n_images)]
            content.append({"type": "text", "text": prompt})
            rendered: str = processor.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
            )
            return rendered
        return VICUNA_V1.render((IMAGE_TOKEN + "\n") * n_images + prompt)

    def ask(self, prompt: str, images: Sequence[Image.Image]) -> str:
        import torch

        processor, model = self._load()
        text = self._render(processor, prompt, len(images))
        inputs = processor(text=[text], images=[img.convert("RGB") for img in images] or None, return_tensors="pt").to(
            model.device
        )
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = out[0, inputs["input_ids"].shape[1] :]
        answer: str = processor.tokenizer.decode(new_tokens, skip_special_tokens=True)
        return answer.strip()


def make_annotator(settings: AnnotatorSettings) -> Annotator | None:
    """The annotator the settings ask for (cached when `cache_file` is set), or None for kind "none"."""
    inner: Annotator
    if settings.kind == "none":
        return None
    if settings.kind == "openai":
        inner = OpenAICompatibleAnnotator(settings)
    else:
        if not settings.local_model:
            raise AnnotatorError(
                "RAPBOT_ANNOTATOR_KIND=local needs RAPBOT_ANNOTATOR_LOCAL_MODEL (a directory or hub id)"
            )
        inner = LocalVLMAnnotator(settings.local_model, device=settings.device, max_new_tokens=settings.max_tokens)
    return CachedAnnotator(inner, settings.cache_file) if settings.cache_file else inner
