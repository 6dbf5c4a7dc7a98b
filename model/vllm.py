"""The "vllm" serving engine for generation (RAPBOT_ENGINE=vllm): RAP answers come from a separate
`vllm serve` process (vLLM's OpenAI-compatible server: continuous batching, prefix caching), and
this worker only builds prompts, counts tokens and talks HTTP.

Why a separate process, not vLLM inside the worker: vLLM 0.33.0 requires transformers>=5.16.1,<5.21
while rapbot pins transformers 5.23.0; vLLM is CUDA-only (the worker and its tests must run on CPUs);
and vLLM owns the GPU's memory (it pre-allocates its KV cache), which an in-process engine would
fight the detector and encoder for. Over HTTP the worker stays CPU-testable.

Exact prompts. RAP's weights were trained on `model.prompt.build_prompt`'s text, tokenized piece by
piece around `<image>` (`model.generator.llava_tokenize`), images in placeholder order. vLLM's
/v1/completions takes token ids but no images; images only enter through /v1/chat/completions, which
renders the messages with a chat template, tokenizes that text in one pass, and replaces each
`<image>` token by the image's feature tokens itself (576 for CLIP-L/336; vLLM's Llava processor
has a PromptReplacement on `image_token_index`). So each request is ONE user message whose content
is one text part, the whole prompt, then one image part per image, query first:
- the server renders it with RAW_CHAT_TEMPLATE (`vllm serve --chat-template ... --chat-template-
  content-format string`), which emits the message text unchanged: no second conversation wrapper;
- in the "string" content format vLLM adds no `<image>` placeholder of its own when the text
  already holds one per image (vllm/entrypoints/chat_utils.py, _get_full_multimodal_text_prompt),
  so the images land exactly where build_prompt put them;
- `add_special_tokens: true` gives the BOS that llava_tokenize's first piece carries.
One-pass tokenization equals the piecewise one for byte-level BPE and for "legacy" SentencePiece
tokenizers. A non-legacy SentencePiece tokenizer (Llama/Vicuna, Phi-3 with legacy=false) puts a "▁"
at the start of every piece but, in one pass, none after a special token: there the text sent has a
space after each `<image>`, which the tokenizer turns into that same "▁". `wire_text` checks this
with the checkpoint's own tokenizer for every prompt and refuses a prompt it cannot express exactly.
Each reply carries the server's prompt token ids (`return_token_ids`); they are compared with ours,
and a difference (a server without the raw chat template, another tokenizer) is a PromptMismatch.

One module (over 400 lines) because the wire prompt, its token check and the HTTP client are one
contract with the vLLM server; split them and the check could drift from the prompt it guards."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx
from PIL import Image

from model.batching import DeadlinePassed, EngineUnavailable
from model.generator import (
    TINY_DIR_NAME,
    GeneratorSpecError,
    LoadedGenerator,
    PreparedInput,
    RapLlavaGenerator,
    _stop_ids,
    _with_image,
    llava_tokenize,
    pad_to_square,
    parse_spec,
)
from model.prompt import IMAGE_TOKEN, PHI3, VICUNA_V1, ChatTemplate, build_prompt
from model.repic import is_repic_spec
from model.settings import ModelSettings
from model.types import ConceptRef, Generation, GenerationRequest

log = logging.getLogger(__name__)

# The chat template the vLLM server must run with: the user message's text, unchanged.
RAW_CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
# Server messages that mean "the prompt and answer budget exceed the model's context".
_CONTEXT_WORDS = ("context length", "max_model_len", "maximum model length", "too long", "context window")
_DETAIL_CHARS = 300  # how much of a server's error text goes into our messages


class PromptMismatch(RuntimeError):
    """The vLLM server tokenized the prompt differently from what the RAP weights were trained on:
    it is not running with RAW_CHAT_TEMPLATE, or serves another tokenizer than this worker reads."""


class ContextOverflow(ValueError):
    """The vLLM server refused the request: prompt plus answer exceed its context (max_model_len)."""


def safe_url(url: str) -> str:
    """`url` without user:password and query string, fit for error messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def base_url(url: str) -> str:
    """The server root: RAPBOT_VLLM_URL may be given with or without the OpenAI "/v1" suffix."""
    url = url.strip().rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def image_data_url(image: Image.Image) -> str:
    """A lossless PNG data URL: the server gets the very pixels the hf engine would preprocess."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def collapse_images(ids: Sequence[int], image_token_id: int) -> list[int]:
    """`ids` with every run of image tokens shortened to one (one per image, before expansion)."""
    out: list[int] = []
    for token in ids:
        if token == image_token_id and out and out[-1] == image_token_id:
            continue
        out.append(int(token))
    return out


def wire_text(tokenizer: Any, text: str, expected: Sequence[int], image_token_id: int) -> str:
    """The text to send so that the server's one-pass tokenization gives `expected` (the piecewise
    ids of `text`, see the module docstring): `text` itself when that already works, else `text`
    with a space after each `<image>`. ValueError when neither is exact."""
    target = collapse_images(expected, image_token_id)
    candidates = [text]
    if IMAGE_TOKEN in text:
        candidates.append(text.replace(IMAGE_TOKEN, IMAGE_TOKEN + " "))
    for candidate in candidates:
        if collapse_images(tokenizer(candidate)["input_ids"], image_token_id) == target:
            return candidate
    raise ValueError(
        "This tokenizer cannot be given the RAP prompt's training tokens through vLLM's chat endpoint "
        "(one-pass tokenization differs from the piecewise one around <image>); use RAPBOT_ENGINE=hf."
    )


@dataclass
class LoadedClient(LoadedGenerator):
    """The tokenizer side of the checkpoint (no weights), and what the server said about itself."""

    image_token_id: int = -1
    served_context: int | None = None


def _config_context(config: dict[str, Any]) -> int:
    text = config.get("text_config") or config
    return int(text.get("max_position_embeddings") or 2048)


class VllmGenerator(RapLlavaGenerator):
    """A RAP generator whose network runs in a vLLM server. Prompt building, image padding and
    context fitting are RapLlavaGenerator's own (the same code, so both engines send the same
    prompt); `generate_batch` sends the requests concurrently and vLLM batches them on the GPU."""

    name = "vllm generator"

    def __init__(
        self,
        source: str,
        *,
        url: str,
        served_model: str,
        template: ChatTemplate = VICUNA_V1,
        client: httpx.Client | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(source, template=template, **kwargs)
        self.url = base_url(url)
        self.served_model = served_model
        self.timeout_s = self.settings.vllm_timeout_s
        self._client = client or httpx.Client(
            timeout=self.timeout_s,
            limits=httpx.Limits(max_connections=max(8, 2 * self.settings.max_batch)),
        )

    def close(self) -> None:
        self._client.close()

    # ---- the checkpoint's tokenizer and the server's limits -------------------------------------

    @property
    def client_state(self) -> LoadedClient:
        return cast(LoadedClient, self.loaded)

    def _load(self) -> LoadedGenerator:
        from transformers import AutoProcessor
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = self._checkpoint()  # RAPBOT_GENERATOR_ADAPTER is the server's business (see the factory)
        config = json.loads((path / "config.json").read_text())
        processor = AutoProcessor.from_pretrained(str(path))
        image_token_id = config.get("image_token_index", config.get("image_token_id"))
        if image_token_id is None:
            image_token_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        served = self._served_context()
        context = _config_context(config) if served is None else min(served, _config_context(config))
        return LoadedClient(
            model=None,
            processor=processor,
            context=context,
            stop_ids=_stop_ids(processor.tokenizer, self.template.stop),
            image_token_id=int(image_token_id),
            served_context=served,
        )

    def _served_context(self) -> int | None:
        """The served model's max_model_len from /v1/models (it may be below the config's); an
        error when the server does not serve RAPBOT_VLLM_MODEL at all."""
        reply = self._send("GET", MODELS_PATH, None, self.timeout_s, deadline_bound=False)
        models = reply.get("data") or []
        names = [str(m.get("id")) for m in models]
        if self.served_model not in names:
            raise EngineUnavailable(
                f"The vLLM server at {safe_url(self.url)} serves {names}, not {self.served_model!r}: "
                "set RAPBOT_VLLM_MODEL to the server's --served-model-name."
            )
        card = models[names.index(self.served_model)]
        value = card.get("max_model_len")
        return int(value) if isinstance(value, int) and value > 0 else None

    def _encode(
        self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str
    ) -> tuple[str, dict[str, Any]]:
        """As RapLlavaGenerator._encode, without pixel tensors: the padded images travel in the
        inputs (under "images") to be sent, the token ids are only for counting and checking."""
        state = self.client_state
        fill = self._fill()
        query = pad_to_square(image, fill) if image is not None else None
        squared = [_with_image(c, pad_to_square(c.image, fill)) for c in concepts]
        prompt = build_prompt(self.template, query, squared, question)
        inputs = llava_tokenize(state.processor, prompt.text, state.image_token_id)
        inputs["images"] = prompt.images
        return prompt.text, inputs

    def forward_logits(self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str) -> Any:
        raise NotImplementedError("The vllm engine gives answers, not logits: use RAPBOT_ENGINE=hf to score.")

    def next_token_logits(self, requests: Sequence[GenerationRequest]) -> Any:
        raise NotImplementedError("The vllm engine gives answers, not logits: use RAPBOT_ENGINE=hf to score.")

    # ---- generation ---------------------------------------------------------------------------

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation | BaseException]:
        """Each request as its own HTTP call, all at once: vLLM's scheduler batches them (continuous
        batching), so a slow answer never holds the others back. Each entry is its own result or
        its own error."""
        if not requests:
            return []
        workers = min(len(requests), self.settings.max_batch)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rapbot-vllm") as pool:
            futures = [pool.submit(self._answer, request) for request in requests]
        results: list[Generation | BaseException] = []
        for future in futures:
            error = future.exception()
            results.append(error if error is not None else future.result())
        return results

    def _answer(self, request: GenerationRequest) -> Generation:
        if request.deadline is not None and time.monotonic() > request.deadline:
            raise DeadlinePassed("dropped before it was sent to vLLM: its request's deadline passed")
        prepared = self.prepare(request.image, request.concepts, request.question, request.max_new_tokens)
        body = self.request_body(prepared, request)
        timeout, deadline_bound = self._timeout(request.deadline)
        reply = self._send("POST", CHAT_PATH, body, timeout, deadline_bound=deadline_bound)
        self._check_prompt(reply, prepared)
        choices = reply.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        usage = reply.get("usage") or {}
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        return Generation(
            text=self._clean(str(text)),
            used=[c.name for c in prepared.used],
            dropped=[c.name for c in prepared.dropped],
            prompt=prepared.prompt,
            tokens=tokens if isinstance(tokens, int) else 0,
        )

    def request_body(self, prepared: PreparedInput, request: GenerationRequest) -> dict[str, Any]:
        """The /v1/chat/completions body for one prepared prompt (see the module docstring)."""
        state = self.client_state
        expected = prepared.inputs["input_ids"][0].tolist()
        text = wire_text(state.processor.tokenizer, prepared.prompt, expected, state.image_token_id)
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        content += self.image_parts(prepared)
        body: dict[str, Any] = {
            "model": self.served_model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": prepared.max_new_tokens,
            # Plain temperature sampling as the hf engine does (0 = greedy): explicit, so a model's
            # generation_config.json (which vLLM applies by default) cannot add top-p/top-k.
            "temperature": self._temperature(request.temperature),
            "top_p": 1.0,
            "top_k": -1,
            "min_p": 0.0,
            "repetition_penalty": 1.0,
            "stop": [self.template.stop],
            "stop_token_ids": list(state.stop_ids),
            "skip_special_tokens": True,
            "add_special_tokens": True,
            "add_generation_prompt": False,
            "return_token_ids": True,
            "n": 1,
            "stream": False,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def image_parts(self, prepared: PreparedInput) -> list[dict[str, Any]]:
        """One image_url part per image, in prompt order. A stored reference photo carries a
        `uuid` made of its view id (model.types.view_key: id + digest of its bytes), vLLM's
        multimodal UUID: the server then looks it up in its encoder and processor caches by that
        id instead of hashing the pixels, so each view is encoded once per server (see
        docs/generator.md); the query photo is left to vLLM's own content hash."""
        images = prepared.inputs["images"]
        keys = prepared.image_keys if len(prepared.image_keys) == len(images) else [None] * len(images)
        parts: list[dict[str, Any]] = []
        for image, key in zip(images, keys, strict=True):
            part: dict[str, Any] = {"type": "image_url", "image_url": {"url": image_data_url(image)}}
            if key is not None:
                part["uuid"] = media_uuid(self.served_model, key)
            parts.append(part)
        return parts

    def _timeout(self, deadline: float | None) -> tuple[float, bool]:
        """RAPBOT_VLLM_TIMEOUT_S, or less when the request's deadline comes first (then True)."""
        if deadline is None:
            return self.timeout_s, False
        left = deadline - time.monotonic()
        return (max(0.001, left), True) if left < self.timeout_s else (self.timeout_s, False)

    def _check_prompt(self, reply: dict[str, Any], prepared: PreparedInput) -> None:
        served = reply.get("prompt_token_ids")
        if served is None:  # a server without return_token_ids: nothing to check
            return
        image_token_id = self.client_state.image_token_id
        ours = collapse_images(prepared.inputs["input_ids"][0].tolist(), image_token_id)
        theirs = collapse_images(served, image_token_id)
        if ours != theirs:
            at = next(
                (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
            )
            raise PromptMismatch(
                f"The vLLM server at {safe_url(self.url)} tokenized the RAP prompt differently from training "
                f"(first difference at token {at}: ours {ours[at : at + 5]}, its {theirs[at : at + 5]}). Start it "
                "with --chat-template set to model.vllm.RAW_CHAT_TEMPLATE and --chat-template-content-format "
                "string, serving the checkpoint this worker reads (see docs/generator.md, vLLM engine)."
            )

    # ---- HTTP ---------------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, timeout: float, *, deadline_bound: bool
    ) -> dict[str, Any]:
        """One call to the server, its errors turned into EngineUnavailable (retry later),
        ContextOverflow / ValueError (this request is wrong) or DeadlinePassed."""
        where = f"the vLLM server at {safe_url(self.url)} (RAPBOT_VLLM_URL)"
        try:
            response = self._client.request(method, self.url + path, json=body, timeout=timeout)
        except httpx.TimeoutException as error:
            if deadline_bound:
                raise DeadlinePassed("the answer was stopped: its request's deadline passed") from error
            raise EngineUnavailable(f"No answer from {where} within {timeout:g} s (RAPBOT_VLLM_TIMEOUT_S).") from error
        except httpx.TransportError as error:
            raise EngineUnavailable(
                f"Cannot reach {where}: {type(error).__name__}. Is `vllm serve` running there?"
            ) from error
        status = response.status_code
        if status >= 500:
            raise EngineUnavailable(f"{where} failed (HTTP {status}): {_error_text(response)}")
        if status in (401, 403):
            raise EngineUnavailable(f"{where} refused the request (HTTP {status}): it requires an API key.")
        if status == 404:
            raise EngineUnavailable(
                f"{where} has no {path} or does not serve {self.served_model!r} (HTTP 404): check "
                f"RAPBOT_VLLM_URL and RAPBOT_VLLM_MODEL. {_error_text(response)}"
            )
        if status >= 400:
            detail = _error_text(response)
            if any(word in detail.lower() for word in _CONTEXT_WORDS):
                raise ContextOverflow(
                    f"The prompt and its answer budget do not fit the context of {self.served_model!r} on the "
                    f"vLLM server (HTTP {status}): {detail}. Lower RAPBOT_MAX_NEW_TOKENS or raise the "
                    "server's --max-model-len."
                )
            raise ValueError(f"{where} refused the request (HTTP {status}): {detail}")
        try:
            reply = response.json()
        except ValueError as error:
            raise EngineUnavailable(f"{where} answered with something that is not JSON (HTTP {status}).") from error
        if not isinstance(reply, dict):
            raise EngineUnavailable(f"{where} answered with unexpected JSON (HTTP {status}).")
        return reply


def media_uuid(served_model: str, view_id: str) -> str:
    """vLLM's multimodal UUID of a stored reference photo: the served model (its preprocessing) and
    the view id (which changes with the photo's bytes)."""
    return f"rapbot:{served_model}:view:{view_id}"


def _error_text(response: httpx.Response) -> str:
    """The server's own error message (OpenAI's {"error": {"message"}} or vLLM's {"message"})."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:_DETAIL_CHARS].strip() or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        message = message or data.get("message") or data.get("detail")
        if message:
            return str(message)[:_DETAIL_CHARS]
    return json.dumps(data)[:_DETAIL_CHARS]


# ---- the factory -----------------------------------------------------------------------------


def build_vllm_generator(spec: str, settings: ModelSettings) -> VllmGenerator:
    """The generator for RAPBOT_ENGINE=vllm: `spec` is RAPBOT_GENERATOR ("rap-llava:<dir|hub id>",
    "rap-phi3:..." or "tiny"); the server's model name is RAPBOT_VLLM_MODEL, else the spec's
    source. Nothing is loaded or contacted until the first answer."""
    if is_repic_spec(spec):
        raise GeneratorSpecError(
            f"{spec!r} is a RePIC generator: model.vllm_repic.build_vllm_repic_generator builds it for the vllm engine."
        )
    parsed = parse_spec(spec)
    if not settings.vllm_url:
        raise GeneratorSpecError(
            "RAPBOT_ENGINE=vllm needs RAPBOT_VLLM_URL, the `vllm serve` server's address (e.g. http://vllm:8000)."
        )
    if parsed.kind == "hf":
        raise GeneratorSpecError(
            f"The vllm engine serves RAP checkpoints ('rap-llava:...', 'rap-phi3:...', 'tiny'), not {spec!r}: "
            "use RAPBOT_ENGINE=hf for 'hf:' chat models."
        )
    if settings.generator_adapter is not None and not settings.vllm_model:
        raise GeneratorSpecError(
            "With RAPBOT_ENGINE=vllm the vLLM server applies RAPBOT_GENERATOR_ADAPTER, not the worker: serve the "
            "merged checkpoint (or the adapter with --enable-lora --lora-modules) and set RAPBOT_VLLM_MODEL "
            "to its served name (see docs/generator.md, vLLM engine)."
        )
    template, max_concepts = {"tiny": (VICUNA_V1, 3), "rap-llava": (VICUNA_V1, 2), "rap-phi3": (PHI3, 3)}[parsed.kind]
    source = parsed.source or "tiny"
    served = settings.vllm_model or (parsed.source if parsed.source else str(settings.model_dir / TINY_DIR_NAME))
    return VllmGenerator(
        source,
        url=settings.vllm_url,
        served_model=served,
        template=template,
        settings=settings,
        max_concepts=max_concepts,
    )
