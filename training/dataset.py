"""RAP samples as token ids for supervised fine-tuning: the prompt comes from model/prompt.py and the
images are padded to a square exactly as model/generator.py does at inference, so training sees what
inference sees. Loss only on the assistant's answers: the system text, the user turns, the image
tokens and the padding are -100 in `labels`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from model.generator import llava_tokenize, pad_to_square
from model.prompt import IMAGE_TOKEN, ChatTemplate, build_prompt
from training.schema import RapSample

log = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass(frozen=True)
class _Concept:
    name: str
    info: str
    image: Image.Image


def _fill(processor: Any) -> tuple[int, int, int]:
    mean = getattr(processor.image_processor, "image_mean", None) or [0.5, 0.5, 0.5]
    return (round(mean[0] * 255), round(mean[1] * 255), round(mean[2] * 255))


def _open(path: Path, fill: tuple[int, int, int]) -> Image.Image:
    with Image.open(path) as img:
        return pad_to_square(img, fill)


def _resolve(root: Path, path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate


def encode_sample(sample: RapSample, root: Path, processor: Any, template: ChatTemplate) -> dict[str, Any]:
    """input_ids, labels (and pixel_values when the sample has images) for one sample, unbatched."""
    import torch

    fill = _fill(processor)
    tokenizer = processor.tokenizer
    query = _open(_resolve(root, sample.image), fill) if sample.image else None
    concepts = [_Concept(c.name, c.info, _open(_resolve(root, p), fill)) for p, c in sample.extra.items()]
    # Text-only training samples numbered their concepts from 0 (RAP release); inference from 1.
    first = build_prompt(template, query, concepts, sample.question, start=None if query is not None else 0)
    # Tokenize exactly as inference does (model.generator.llava_tokenize): SentencePiece tokenizers
    # give other ids when the whole prompt is tokenized at once.
    encoded = llava_tokenize(processor, first.text, tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    if first.images:
        encoded["pixel_values"] = processor.image_processor(first.images, return_tensors="pt")["pixel_values"]
    ids: list[int] = encoded["input_ids"][0].tolist()
    labels = [IGNORE_INDEX] * len(ids)
    turns = sample.conversations
    for i in range(0, len(turns), 2):
        if i:  # later turns: the next user message, then the assistant again
            user = template.prefix.lstrip(" ") + turns[i].value + template.middle
            user_ids = tokenizer(user, add_special_tokens=False)["input_ids"]
            ids += user_ids
            labels += [IGNORE_INDEX] * len(user_ids)
        answer_ids = tokenizer(template.answer_suffix(turns[i + 1].value), add_special_tokens=False)["input_ids"]
        ids += answer_ids
        labels += answer_ids
    item: dict[str, Any] = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
    if "pixel_values" in encoded:
        item["pixel_values"] = encoded["pixel_values"]
    return item


def tokens_per_image(processor: Any) -> int:
    """How many tokens the processor expands one <image> into (576 for LLaVA-1.5), measured."""
    probe = processor(text=IMAGE_TOKEN, images=[Image.new("RGB", (32, 32))], return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    return int((probe["input_ids"][0] == image_id).sum())


def estimated_length(sample: RapSample, processor: Any, template: ChatTemplate, per_image: int) -> int:
    """Tokens of a sample without opening its images (each <image> counts as the processor's
    image_seq_length tokens): cheap enough to filter a whole dataset up front."""
    tokenizer = processor.tokenizer
    n_images = (1 if sample.image else 0) + len(sample.extra)
    text = template.render(sample.conversations[0].value) + "".join(t.value for t in sample.conversations[1:])
    text_tokens = len(tokenizer(text.replace(IMAGE_TOKEN, ""))["input_ids"])
    # each entry adds its own "N.<image>\n Name: <..>, Info: ..\n" on top of the question
    entries = sum(
        len(tokenizer(f"{i}.\n Name: <{c.name}>, Info: {c.info}\n")["input_ids"])
        for i, c in enumerate(sample.extra.values())
    )
    return text_tokens + entries + n_images * per_image + len(sample.conversations) * 8


class RapDataset:
    """A map-style dataset over validated samples; images are read lazily per item."""

    def __init__(
        self, samples: Sequence[RapSample], root: Path, processor: Any, template: ChatTemplate, max_length: int
    ) -> None:
        self.root = root
        self.processor = processor
        self.template = template
        per_image = tokens_per_image(processor)
        self.samples = [s for s in samples if estimated_length(s, processor, template, per_image) <= max_length]
        self.skipped_too_long = len(samples) - len(self.samples)
        if self.skipped_too_long:
            log.warning("skipped %d sample(s) longer than max_length=%d", self.skipped_too_long, max_length)
        if not self.samples:
            raise ValueError(f"no sample fits in max_length={max_length} tokens")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return encode_sample(self.samples[index], self.root, self.processor, self.template)


class RapCollator:
    """Pads on the right (pad id in input_ids, -100 in labels, 0 in attention_mask) and stacks every
    sample's images into one pixel_values tensor, in sample order, as Llava expects."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        longest = max(len(item["input_ids"]) for item in batch)
        input_ids = torch.full((len(batch), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), longest), IGNORE_INDEX, dtype=torch.long)
        attention = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, item in enumerate(batch):
            n = len(item["input_ids"])
            input_ids[row, :n] = item["input_ids"]
            labels[row, :n] = item["labels"]
            attention[row, :n] = 1
        out: dict[str, Any] = {"input_ids": input_ids, "labels": labels, "attention_mask": attention}
        pixels = [item["pixel_values"] for item in batch if "pixel_values" in item]
        if pixels:
            out["pixel_values"] = torch.cat(pixels, dim=0)
        return out
