"""The generator backends (model.types.ConceptGenerator), and `build_generator(spec, settings)`.

- `RapLlavaGenerator`: RAP-LLaVA / RAP-Phi3-V in transformers' Llava format (see model/convert.py),
  and the tiny seeded LLaVA. The exact RAP prompt; query image first, then concept images; LLaVA's
  pad-to-square preprocessing.
- `ChatTemplateGenerator`: training-free, for any transformers image-text-to-text chat model. The
  concepts' reference images and infos go in through the model's own chat template; the query image
  gets numbered boxes drawn on it (PeKit's visual prompting).

Both: a peft LoRA adapter (and a trained projector beside it) on top of the base model, decoding
(temperature, greedy when 0 or deterministic, seeded sampling), and context fitting: when the prompt
does not fit the model's context, the answer budget shrinks to a floor, then the weakest concepts
are dropped (reported in Generation.dropped), then the question is cut; never a context-length crash.

Specs: "tiny" | "rap-llava:<dir|hub id>" | "rap-phi3:<dir|hub id>" | "hf:<dir|hub id>".

One module (over 400 lines) because loading, prompt fitting and batched generation share the loaded
model's tokenizer, template and stop ids; model/repic.py and model/vllm.py build on its pieces."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from model.base import InferenceModel
from model.batching import DeadlinePassed
from model.bounds import MAX_SIDE, bounded, fit_within
from model.convert import convert_rap, is_original_llava
from model.draw import annotate
from model.feature_cache import FeatureCache, VisionStats
from model.projector import PROJECTOR_FILE, load_projector
from model.prompt import IMAGE_TOKEN, PHI3, VICUNA_V1, ChatTemplate, build_prompt
from model.settings import ModelSettings
from model.tiny_llava import build_tiny_llava
from model.types import ConceptRef, Generation, GenerationRequest
from model.weights import WeightsMissing, resolve_checkpoint

log = logging.getLogger(__name__)

# Before concepts are dropped, the answer budget may shrink to 1/16 of the context (128 tokens for
# RAP-LLaVA's 2048, the release's eval budget), never below 16 tokens.
MIN_ANSWER_DIVISOR = 16
MIN_ANSWER_TOKENS = 16
TINY_DIR_NAME = "tiny-llava"


class GeneratorSpecError(ValueError):
    """RAPBOT_GENERATOR (or a --generator option) names no known backend."""


@dataclass(frozen=True)
class GeneratorSpec:
    kind: str  # "tiny" | "rap-llava" | "rap-phi3" | "hf"
    source: str  # a directory or hub id ("" for tiny)


def parse_spec(spec: str) -> GeneratorSpec:
    kind, sep, source = spec.strip().partition(":")
    if kind == "tiny" and not source:
        return GeneratorSpec("tiny", "")
    if kind in ("rap-llava", "rap-phi3", "hf") and sep and source.strip():
        return GeneratorSpec(kind, source.strip())
    raise GeneratorSpecError(
        f"Unknown generator {spec!r}. Use 'tiny', 'rap-llava:<dir or hub id>', 'rap-phi3:<dir or hub id>', "
        "'hf:<dir or hub id>', 'repic:<dir or hub id>' or 'tiny-repic' (e.g. rap-phi3:Hoar012/RAP-Phi3-mini)."
    )


@dataclass(frozen=True)
class Decoding:
    temperature: float = 0.2
    max_new_tokens: int = 512
    deterministic: bool = False


# ---- loading ---------------------------------------------------------------------------------


def apply_adapter(model: Any, adapter_dir: Path) -> Any:
    """Merge a peft LoRA adapter into `model`, and load a trained projector saved beside it
    (`mm_projector.safetensors`: the Llava projector's state dict) when there is one."""
    adapter_dir = Path(adapter_dir).expanduser()
    if not (adapter_dir / "adapter_config.json").is_file():
        raise WeightsMissing(
            f"generator adapter {adapter_dir}", None, "no adapter_config.json there (RAPBOT_GENERATOR_ADAPTER)"
        )
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    projector_file = adapter_dir / PROJECTOR_FILE
    if projector_file.is_file():
        load_projector(model, projector_file)
    return model


def load_llava(
    path: Path | str, device: str = "cpu", dtype: Any = None, adapter: Path | None = None
) -> tuple[Any, Any]:
    """(model, processor) of a transformers-format Llava checkpoint (what `build_tiny_llava` and
    `convert_rap` write), in eval mode on `device`, with `adapter` merged when given."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a load bar is noise in a chat console and in worker logs
    model: Any = LlavaForConditionalGeneration.from_pretrained(str(path), dtype=dtype, **_placement(device))
    if adapter is not None:
        model = apply_adapter(model, adapter)
    processor = AutoProcessor.from_pretrained(str(path))
    return model.to(device).eval(), processor


def _placement(device: str) -> dict[str, Any]:
    # On a GPU, load the weights straight there (a 13B model would not fit twice in host memory).
    return {"device_map": device} if device.startswith("cuda") else {}


def context_length(model: Any) -> int:
    config = model.config.get_text_config()
    return int(getattr(config, "max_position_embeddings", None) or 2048)


# ---- shared backend machinery ----------------------------------------------------------------


@dataclass
class LoadedGenerator:
    model: Any
    processor: Any
    context: int
    stop_ids: list[int] = field(default_factory=list)


@dataclass
class PreparedInput:
    """What goes into the network for one question, after context fitting."""

    inputs: dict[str, Any]
    prompt: str
    used: list[ConceptRef]
    dropped: list[ConceptRef]
    max_new_tokens: int
    # One entry per image, in prompt order: the view id of a stored reference photo (its features
    # may be cached, model/feature_cache.py), None for the query photo or a photo without one.
    image_keys: list[str | None] = field(default_factory=list)


def _length(inputs: dict[str, Any]) -> int:
    return int(inputs["input_ids"].shape[-1])


def weakest_index(concepts: Sequence[ConceptRef]) -> int:
    """The concept to drop first: the lowest retrieval score; concepts named in the text (score
    None) go last, the latest-named first."""
    scored = [i for i, c in enumerate(concepts) if c.score is not None]
    if scored:
        return min(scored, key=lambda i: (concepts[i].score, -i))
    return len(concepts) - 1


class TransformersGenerator(InferenceModel[LoadedGenerator]):
    """Decoding and context fitting shared by both backends; subclasses load and build prompts."""

    def __init__(
        self,
        source: str,
        *,
        settings: ModelSettings | None = None,
        max_concepts: int = 3,
        adapter: Path | str | None = None,
        decoding: Decoding | None = None,
    ) -> None:
        self.settings = settings or ModelSettings()
        super().__init__(self.settings.device, self.settings.dtype)
        self.source = source
        self.max_concepts = max_concepts
        self._generate_lock = threading.Lock()
        adapter = adapter if adapter is not None else self.settings.generator_adapter
        self.adapter = Path(adapter) if adapter is not None else None
        self.vision = VisionStats()  # what went through the vision tower (engine statistics)
        self.feature_cache = FeatureCache(int(self.settings.view_cache_mb * 2**20))
        self.decoding = decoding or Decoding(
            temperature=self.settings.temperature,
            max_new_tokens=self.settings.max_new_tokens,
            deterministic=self.settings.deterministic,
        )

    # subclasses ----------------------------------------------------------------------------------

    def _encode(
        self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str
    ) -> tuple[str, dict[str, Any]]:
        """The prompt text and the processor's tensors for it."""
        raise NotImplementedError

    def _count_tokens(self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str) -> int:
        return _length(self._encode(image, concepts, question)[1])

    # context fitting ------------------------------------------------------------------------------

    def prepare(
        self,
        image: Image.Image | None,
        concepts: Sequence[ConceptRef],
        question: str,
        max_new_tokens: int | None = None,
    ) -> PreparedInput:
        """Fit the prompt in the context: shrink the answer budget (to a floor of 1/16 of the
        context), then drop the weakest concepts, then cut the question; return the network's input."""
        loaded = self.loaded
        wanted = max_new_tokens or self.decoding.max_new_tokens
        floor = min(wanted, max(MIN_ANSWER_TOKENS, loaded.context // MIN_ANSWER_DIVISOR))
        kept = list(concepts)
        dropped: list[ConceptRef] = []
        text, inputs = self._encode(image, kept, question)
        while kept and _length(inputs) + floor > loaded.context:
            dropped.append(kept.pop(weakest_index(kept)))
            text, inputs = self._encode(image, kept, question)
        if _length(inputs) + 1 > loaded.context:
            question = self._shorten_question(image, question, loaded.context - 1)
            text, inputs = self._encode(image, kept, question)
        if dropped:
            log.info("context %d: dropped %d concept(s) to fit", loaded.context, len(dropped))
        budget = max(1, min(wanted, loaded.context - _length(inputs)))
        keys = self._image_keys(image, kept)
        return PreparedInput(inputs, text, kept, dropped, budget, keys)

    def _image_keys(self, image: Image.Image | None, concepts: Sequence[ConceptRef]) -> list[str | None]:
        """The prompt's images in order, by view id (None: the query photo). Both backends put the
        query photo first; RePIC overrides this (its query photo comes last)."""
        return ([None] if image is not None else []) + [c.view_id for c in concepts]

    @property
    def generator_id(self) -> str:
        """What a cached image feature depends on besides the photo: the weights and preprocessing."""
        return f"{type(self).__name__}:{self.source}:{self.adapter or ''}"

    def _shorten_question(self, image: Image.Image | None, question: str, limit: int) -> str:
        """The longest prefix of `question` (in tokens) whose prompt fits in `limit` tokens."""
        tokenizer = self.loaded.processor.tokenizer
        ids = tokenizer(question, add_special_tokens=False)["input_ids"]
        low, high = 0, len(ids)
        while low < high:  # binary search on the number of question tokens kept
            middle = (low + high + 1) // 2
            if self._count_tokens(image, [], tokenizer.decode(ids[:middle])) <= limit:
                low = middle
            else:
                high = middle - 1
        if low == 0 and self._count_tokens(image, [], "") > limit:
            raise ValueError("The model's context is too small for even one image and no question.")
        return str(tokenizer.decode(ids[:low]))

    # generation -------------------------------------------------------------------------------

    def _to_device(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import torch

        model = self.loaded.model
        moved: dict[str, Any] = {}
        for key, value in inputs.items():
            if isinstance(value, torch.Tensor):
                value = value.to(model.device)
                if value.is_floating_point():
                    value = value.to(model.dtype)
            moved[key] = value
        return moved

    def forward_logits(self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str) -> Any:
        """Next-token logits over the whole prompt (for scoring, evaluation and tests)."""
        import torch

        prepared = self.prepare(image, concepts, question)
        with torch.inference_mode():
            return self.loaded.model(**self._to_device(prepared.inputs)).logits

    def next_token_logits(self, requests: Sequence[GenerationRequest]) -> Any:
        """The first answer token's logits of each request, run as ONE left-padded batch (n, vocab)."""
        import torch

        prepared = [self.prepare(r.image, r.concepts, r.question, r.max_new_tokens) for r in requests]
        with torch.inference_mode():
            return self.loaded.model(**self._to_device(self._collate(prepared))).logits[:, -1, :]

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
        request = GenerationRequest(image, concepts, question, max_new_tokens, temperature, seed)
        (result,) = self.generate_batch([request])
        if isinstance(result, BaseException):
            raise result
        return result

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation | BaseException]:
        """Answer several questions in ONE batched `generate` (left padding, each request's own
        images, prompt, answer budget, temperature and seed). Greedy answers equal the answers
        given one at a time. A request that cannot be prepared fails alone (its entry is the error)."""
        results: list[Generation | BaseException | None] = [None] * len(requests)
        ready: list[int] = []
        prepared: dict[int, PreparedInput] = {}
        for index, request in enumerate(requests):
            try:
                prepared[index] = self.prepare(
                    request.image, request.concepts, request.question, request.max_new_tokens
                )
                ready.append(index)
            except Exception as exc:
                results[index] = exc
        if ready:
            rows = self._generate_rows([requests[i] for i in ready], [prepared[i] for i in ready])
            for index, row in zip(ready, rows, strict=True):
                results[index] = row
        return [r if r is not None else RuntimeError("no result") for r in results]

    def _generate_rows(
        self, requests: Sequence[GenerationRequest], prepared: Sequence[PreparedInput]
    ) -> list[Generation | BaseException]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        loaded = self.loaded
        tokenizer = loaded.processor.tokenizer
        inputs = self._encode_images(self._to_device(self._collate(prepared)), prepared)
        prompt_length = int(inputs["input_ids"].shape[-1])
        budgets = [p.max_new_tokens for p in prepared]
        limits = _RowLimits(prompt_length, budgets, [r.deadline for r in requests])
        temperatures = [self._temperature(r.temperature) for r in requests]
        options: dict[str, Any] = {
            "max_new_tokens": max(budgets),
            "do_sample": False,  # sampling, when wanted, is done per row by _RowSampler
            "stopping_criteria": StoppingCriteriaList([limits]),
        }
        if any(t > 0 for t in temperatures):
            sampler = _RowSampler(temperatures, [r.seed for r in requests], loaded.model.device)
            options["logits_processor"] = LogitsProcessorList([sampler])
        if loaded.stop_ids:
            options["eos_token_id"] = loaded.stop_ids
        options["pad_token_id"] = _pad_id(tokenizer, loaded.stop_ids)
        with self._generate_lock, torch.inference_mode():
            output = loaded.model.generate(**inputs, **options)
        rows: list[Generation | BaseException] = []
        for row, prepared_row in enumerate(prepared):
            if row in limits.expired:
                rows.append(DeadlinePassed("the answer was stopped: its request's deadline passed"))
                continue
            new_tokens = _answer_tokens(output[row, prompt_length:].tolist(), prepared_row.max_new_tokens, loaded)
            text = tokenizer.decode(new_tokens, skip_special_tokens=True)
            rows.append(
                Generation(
                    text=self._clean(text),
                    used=[c.name for c in prepared_row.used],
                    dropped=[c.name for c in prepared_row.dropped],
                    prompt=prepared_row.prompt,
                    tokens=len(new_tokens),
                    batch=len(requests),
                )
            )
        return rows

    def _clean(self, text: str) -> str:
        return text.strip()

    def _encode_images(self, inputs: dict[str, Any], prepared: Sequence[PreparedInput]) -> dict[str, Any]:
        """The batch's inputs for `generate`. Here: unchanged (generate runs the vision tower on
        every image); RapLlavaGenerator hands it cached features of stored views instead."""
        images = sum(len(p.image_keys) for p in prepared)
        if images:
            self.vision.calls += 1
            self.vision.images += images
        return inputs

    def _temperature(self, wanted: float | None) -> float:
        """0 means greedy; the deterministic setting makes every request greedy."""
        if self.decoding.deterministic:
            return 0.0
        return self.decoding.temperature if wanted is None else max(0.0, wanted)

    def _collate(self, prepared: Sequence[PreparedInput]) -> dict[str, Any]:
        """One batch of several prompts' tensors: per-token tensors (input_ids, attention_mask and
        any of their shape) are padded on the LEFT, so every answer starts at the same column;
        image tensors are concatenated in request order (the models consume image features in
        the order their placeholder tokens appear), padded with zeros where their sizes differ
        (Idefics3 drops all-zero images and masks padded pixels)."""
        if len(prepared) == 1:
            return dict(prepared[0].inputs)
        import torch

        pad_id = _pad_id(self.loaded.processor.tokenizer, self.loaded.stop_ids)
        longest = max(_length(p.inputs) for p in prepared)
        batch: dict[str, Any] = {}
        keys = list(dict.fromkeys(key for p in prepared for key in p.inputs))
        for key in keys:
            values = [p.inputs[key] for p in prepared if key in p.inputs]
            if not all(isinstance(v, torch.Tensor) for v in values):
                batch[key] = values[0]
                continue
            per_token = all(key in p.inputs and p.inputs[key].shape == p.inputs["input_ids"].shape for p in prepared)
            if per_token:
                fill = pad_id if key == "input_ids" else 0
                batch[key] = torch.cat([_left_pad(v, longest, fill) for v in values])
            else:
                batch[key] = torch.cat(_pad_to_common_shape(values))
        return batch


class _RowLimits:
    """Stops each row at its own answer budget, and at its request's deadline (those rows are
    reported as expired). transformers ANDs the per-row verdict into the unfinished rows."""

    def __init__(self, prompt_length: int, budgets: Sequence[int], deadlines: Sequence[float | None]) -> None:
        self.prompt_length = prompt_length
        self.budgets = list(budgets)
        self.deadlines = list(deadlines)
        self.expired: set[int] = set()

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        generated = int(input_ids.shape[-1]) - self.prompt_length
        now = time.monotonic()
        done = [generated >= budget for budget in self.budgets]
        for row, deadline in enumerate(self.deadlines):
            if deadline is not None and now > deadline and not done[row]:
                self.expired.add(row)
                done[row] = True
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _RowSampler:
    """Temperature sampling per row with the row's own seeded generator, so a request's sampled
    answer does not depend on which other requests share its batch. Rows at temperature 0 stay
    greedy. It leaves only the drawn token possible, and greedy decoding then takes it."""

    def __init__(self, temperatures: Sequence[float], seeds: Sequence[int | None], device: Any) -> None:
        import torch

        self.rows: list[tuple[int, float, Any]] = []
        for row, (temperature, seed) in enumerate(zip(temperatures, seeds, strict=True)):
            if temperature <= 0:
                continue
            generator = torch.Generator(device=device)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
            self.rows.append((row, temperature, generator))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        for row, temperature, generator in self.rows:
            probabilities = torch.softmax(scores[row].float() / temperature, dim=-1)
            token = torch.multinomial(probabilities, 1, generator=generator)
            scores[row] = float("-inf")
            scores[row, token] = 0.0
        return scores


def _pad_id(tokenizer: Any, stop_ids: Sequence[int]) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return int(stop_ids[0]) if stop_ids else 0


def _answer_tokens(tokens: list[int], budget: int, loaded: LoadedGenerator) -> list[int]:
    """A row's own answer: at most its budget, up to (not including) its first stop token."""
    tokens = tokens[:budget]
    for position, token in enumerate(tokens):
        if token in loaded.stop_ids:
            return tokens[:position]
    return tokens


def _left_pad(tensor: Any, length: int, fill: int) -> Any:
    import torch.nn.functional as functional

    return functional.pad(tensor, (length - int(tensor.shape[-1]), 0), value=fill)


def _pad_to_common_shape(tensors: Sequence[Any]) -> list[Any]:
    """Zero-pad every dimension but the first to the largest size among `tensors`."""
    import torch.nn.functional as functional

    if len({tuple(t.shape[1:]) for t in tensors}) == 1:
        return list(tensors)
    if len({t.dim() for t in tensors}) != 1:
        raise ValueError("cannot batch image tensors of different ranks")
    target = [max(int(t.shape[d]) for t in tensors) for d in range(tensors[0].dim())]
    padded = []
    for tensor in tensors:
        widths: list[int] = []
        for dim in reversed(range(1, tensor.dim())):
            widths.extend([0, target[dim] - int(tensor.shape[dim])])
        padded.append(functional.pad(tensor, widths, value=0))
    return padded


def _stop_ids(tokenizer: Any, stop: str) -> list[int]:
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    stop_id = tokenizer.convert_tokens_to_ids(stop)
    if isinstance(stop_id, int) and stop_id != tokenizer.unk_token_id and stop_id not in ids:
        ids.append(stop_id)
    return ids


# ---- RAP backend -----------------------------------------------------------------------------


def pad_to_square(image: Image.Image, fill: tuple[int, int, int], max_side: int = MAX_SIDE) -> Image.Image:
    """LLaVA's "pad" aspect ratio: centre the image on a square of the processor's mean colour.
    The image is first brought within `max_side` on its longest side (model.bounds), so the square
    is at most max_side x max_side whatever the shape: a 40000x1 strip would otherwise become a
    40000x40000 canvas (4.8 GB) that the processor then shrinks to 336 px anyway."""
    image = fit_within(image.convert("RGB"), max_side)
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new("RGB", (side, side), fill)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


class RapLlavaGenerator(TransformersGenerator):
    """RAP-LLaVA (Vicuna v1, 2 concepts), RAP-Phi3-V (Phi-3, 3 concepts) or the tiny LLaVA, in
    transformers' Llava format. A checkpoint still in the original LLaVA layout is converted once
    into RAPBOT_MODEL_DIR/converted/<name> (see model/convert.py)."""

    name = "rap generator"

    def __init__(self, source: str, *, template: ChatTemplate = VICUNA_V1, **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self.template = template

    def _load(self) -> LoadedGenerator:
        path = self._checkpoint()
        model, processor = load_llava(path, self.device, self.dtype, self.adapter)
        return LoadedGenerator(
            model, processor, context_length(model), _stop_ids(processor.tokenizer, self.template.stop)
        )

    def _checkpoint(self) -> Path:
        if self.source == "tiny":
            return build_tiny_llava(self.settings.model_dir / TINY_DIR_NAME)
        path = resolve_checkpoint(self.source, self.settings)
        if _is_original_layout(path):
            # A hub snapshot dir is named by its commit: name the conversion after the source.
            name = path.name if Path(self.source).expanduser().is_dir() else self.source.rsplit("/", 1)[-1]
            target = self.settings.model_dir / "converted" / name
            if not (target / "rapbot_converted.json").is_file():  # written last: a finished conversion
                log.info("converting %s to the transformers Llava format in %s", path, target)
                convert_rap(path, target, settings=self.settings)
            path = target
        return path

    def _fill(self) -> tuple[int, int, int]:
        mean = getattr(self.loaded.processor.image_processor, "image_mean", None) or [0.5, 0.5, 0.5]
        return (round(mean[0] * 255), round(mean[1] * 255), round(mean[2] * 255))

    def _encode(
        self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str
    ) -> tuple[str, dict[str, Any]]:
        fill = self._fill()
        query = pad_to_square(image, fill) if image is not None else None
        squared = [_with_image(c, pad_to_square(c.image, fill)) for c in concepts]
        prompt = build_prompt(self.template, query, squared, question)
        inputs = llava_tokenize(self.loaded.processor, prompt.text, self.loaded.model.config.image_token_index)
        if prompt.images:
            image_processor = self.loaded.processor.image_processor
            inputs["pixel_values"] = image_processor(prompt.images, return_tensors="pt")["pixel_values"]
        return prompt.text, inputs

    def _clean(self, text: str) -> str:
        return text.split(self.template.stop, 1)[0].strip()

    def _encode_images(self, inputs: dict[str, Any], prepared: Sequence[PreparedInput]) -> dict[str, Any]:
        """Concept photos encoded once (model/feature_cache.py): the vision tower runs only on the
        query photos and on stored views not yet cached, in ONE call for the batch; generate gets
        every image's projected features (`mm_encoder_outputs`, what it would compute itself from
        `pixel_values`), so the prompt the language model sees is the same."""
        pixel_values = inputs.get("pixel_values")
        keys = [key for p in prepared for key in p.image_keys]
        if not self.feature_cache.enabled or pixel_values is None or int(pixel_values.shape[0]) != len(keys):
            return super()._encode_images(inputs, prepared)
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        owner = self.generator_id
        features: list[Any] = [None] * len(keys)
        todo: dict[Hashable, list[int]] = {}  # what to encode -> where it goes; each query photo apart
        for index, key in enumerate(keys):
            cached = self.feature_cache.get((owner, key)) if key is not None else None
            if cached is not None:
                features[index] = cached
                self.vision.cache_hits += 1
            else:
                todo.setdefault(key if key is not None else (None, index), []).append(index)
        if todo:
            first = [positions[0] for positions in todo.values()]
            with torch.inference_mode():
                encoded = self.loaded.model.base_model.get_image_features(
                    pixel_values=pixel_values[first], return_dict=True
                ).pooler_output
            self.vision.calls += 1
            self.vision.images += len(first)
            for (wanted, positions), feature in zip(todo.items(), encoded, strict=True):
                for index in positions:
                    features[index] = feature
                if isinstance(wanted, str):
                    self.feature_cache.put((owner, wanted), feature.clone())
        batch = {name: value for name, value in inputs.items() if name != "pixel_values"}
        # pooler_output is a list of per-image features here, as LlavaModel.get_image_features returns it.
        encoder_output: Any = BaseModelOutputWithPooling(pooler_output=features)  # type: ignore[arg-type]
        batch["mm_encoder_outputs"] = {"image": encoder_output}
        return batch


def image_tokens_per_image(processor: Any) -> int:
    """How many feature tokens the Llava vision tower gives per image (576 for CLIP-L/336)."""
    crop = processor.image_processor.crop_size
    patch = processor.patch_size
    tokens = (crop["height"] // patch) * (crop["width"] // patch) + processor.num_additional_image_tokens
    return tokens - (1 if processor.vision_feature_select_strategy == "default" else 0)


def llava_tokenize(processor: Any, text: str, image_token_id: int) -> dict[str, Any]:
    """Tokenize as the original LLaVA code did for training (tokenizer_image_token): each piece
    between `<image>` placeholders on its own (only the first keeps BOS), then one image's worth
    of image tokens in place of each placeholder. Tokenizing the pieces apart matters for
    SentencePiece tokenizers, which add a prefix space at the start of every piece."""
    import torch

    tokenizer = processor.tokenizer
    per_image = image_tokens_per_image(processor)
    ids: list[int] = []
    for number, piece in enumerate(text.split(IMAGE_TOKEN)):
        piece_ids = list(tokenizer(piece)["input_ids"]) if piece or number == 0 else []
        if number > 0:
            if piece_ids and piece_ids[0] == tokenizer.bos_token_id:
                piece_ids = piece_ids[1:]
            ids.extend([image_token_id] * per_image)
        ids.extend(piece_ids)
    input_ids = torch.tensor([ids], dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def _with_image(concept: ConceptRef, image: Image.Image) -> ConceptRef:
    return dataclasses.replace(concept, image=image)


def _is_original_layout(path: Path) -> bool:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return is_original_llava(config)


# ---- training-free chat-template backend -------------------------------------------------------


class ChatTemplateGenerator(TransformersGenerator):
    """Any transformers image-text-to-text chat model, no training: each concept's reference photo
    and info go into the chat, the query photo gets numbered boxes where concepts were found."""

    name = "chat generator"

    def _image_keys(self, image: Image.Image | None, concepts: Sequence[ConceptRef]) -> list[str | None]:
        return [c.view_id for c in concepts] + ([None] if image is not None else [])  # chat_messages' order

    def _load(self) -> LoadedGenerator:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = resolve_checkpoint(self.source, self.settings)
        model: Any = AutoModelForImageTextToText.from_pretrained(str(path), dtype=self.dtype, **_placement(self.device))
        if self.adapter is not None:
            model = apply_adapter(model, self.adapter)
        processor = AutoProcessor.from_pretrained(str(path))
        if getattr(processor, "chat_template", None) is None:
            raise WeightsMissing(
                f"generator {self.source}", self.settings.profile, "its processor has no chat template"
            )
        image_processor = getattr(processor, "image_processor", None)
        if (
            image_processor is not None
            and self.device == "cpu"
            and getattr(image_processor, "do_image_splitting", False)
        ):
            # SmolVLM/Idefics3 cut each image into 512 px tiles of 64 tokens; a query photo and three
            # concept photos would then take minutes on a CPU. One tile per image keeps it in seconds.
            image_processor.do_image_splitting = False
        tokenizer = processor.tokenizer
        stops = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        return LoadedGenerator(model.to(self.device).eval(), processor, context_length(model), stops)

    def _encode(
        self, image: Image.Image | None, concepts: Sequence[ConceptRef], question: str
    ) -> tuple[str, dict[str, Any]]:
        messages, images = chat_messages(image, concepts, question)
        processor = self.loaded.processor
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(text=text, images=images or None, return_tensors="pt")
        return str(text), dict(inputs)


def chat_messages(
    image: Image.Image | None, concepts: Sequence[ConceptRef], question: str
) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """One user message: the concepts (reference photo + "<name>: info", numbered), then the query
    photo with numbered boxes where concepts were found, then the question. Returns the messages
    and the images in the order their placeholders appear, each within model.bounds (longest side
    and aspect), so no chat processor's resize or tiling can grow without limit."""
    content: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    if concepts:
        content.append(
            {"type": "text", "text": "These are the user's own things and people, each with a reference photo:\n"}
        )
        for number, concept in enumerate(concepts, start=1):
            content.append({"type": "image"})
            images.append(bounded(concept.image.convert("RGB")))
            content.append({"type": "text", "text": f"{number}. <{concept.name}>: {concept.info}\n"})
    if image is not None:
        boxed = [(number, c) for number, c in enumerate(concepts, start=1) if c.box is not None]
        if boxed:
            query = bounded(annotate(image, [c.box for _, c in boxed if c.box is not None], [str(n) for n, _ in boxed]))
            where = ", ".join(f"box {n} is <{c.name}>" for n, c in boxed)
            content.append({"type": "text", "text": f"In this photo, numbered boxes mark them: {where}.\n"})
        else:
            query = bounded(image.convert("RGB"))
            content.append({"type": "text", "text": "This is the photo:\n"})
        content.append({"type": "image"})
        images.append(query)
    hint = " Call them by their names in angle brackets, like <name>." if concepts else ""
    content.append({"type": "text", "text": question + hint})
    return [{"role": "user", "content": content}], images


# ---- the factory -----------------------------------------------------------------------------


def build_generator(
    spec: str | None = None,
    settings: ModelSettings | None = None,
    *,
    adapter: Path | str | None = None,
) -> TransformersGenerator:
    """The generator named by `spec` (default: settings.generator). Nothing loads until first use."""
    settings = settings or ModelSettings()
    spec = spec or settings.generator
    if not spec:
        raise GeneratorSpecError(
            "No generator chosen: set RAPBOT_GENERATOR (e.g. 'tiny' or 'rap-phi3:Hoar012/RAP-Phi3-mini')."
        )
    parsed = parse_spec(spec)
    common: dict[str, Any] = {"settings": settings, "adapter": adapter}
    if parsed.kind == "tiny":
        return RapLlavaGenerator("tiny", template=VICUNA_V1, max_concepts=3, **common)
    if parsed.kind == "rap-llava":
        return RapLlavaGenerator(parsed.source, template=VICUNA_V1, max_concepts=2, **common)
    if parsed.kind == "rap-phi3":
        return RapLlavaGenerator(parsed.source, template=PHI3, max_concepts=3, **common)
    return ChatTemplateGenerator(parsed.source, max_concepts=3, **common)
