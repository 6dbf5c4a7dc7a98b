"""RePIC's prompt (Oh et al., "RePIC: Reinforced Post-Training for Personalizing Multi-Modal
Language Models", NeurIPS 2025; weights Yeongtak/RePIC_Qwen2.5VL_7B), as chat messages.

Copied from RePIC's public evaluation code, github.com/oyt9306/RePIC, `caption_eval_single.py`,
`caption_eval_multi_2.py` and `caption_eval_multi_4.py` (identical there):

- a system message, a plain string: `REPIC_SYSTEM_PROMPT`;
- one user message: each reference image, each followed by its text. The text is RAP's entry
  `"{i}.<image>\\n Name: <{name}>, Info: {info}\\n"` (their retriever.py) with `"<image>\\n"` removed
  and cut at the newline, i.e. `"{i}. Name: <{name}>, Info: {info}"`;
- then the query image and `"This is the query image. {question}"`.

The model's own chat template (Qwen2.5-VL's) turns the messages into text. Two cases RePIC's code
never meets, and what we do: a question without a photo drops the query image and the query phrase
(the references and the question stay); an info text with line breaks is put on one line, since
RePIC's code keeps one line per reference.

Pure data work: no torch here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from model.prompt import ConceptWithImage

REPIC_SYSTEM_PROMPT = (
    "You are a captioning assistant. Your task is to generate an accurate caption "
    "for the query image.\nBelow is additional information about the reference images."
)
REPIC_QUERY_PREFIX = "This is the query image. "
# RePIC's evaluation loads the processor with max_pixels=1024*28*28: at most 1024 visual tokens a photo.
REPIC_MAX_PIXELS = 1024 * 28 * 28

ImageT = TypeVar("ImageT")


def reference_text(index: int, name: str, info: str) -> str:
    """The text after one reference image: `1. Name: <bo>, Info: my shiba inu`."""
    one_line = " ".join(info.splitlines())
    return f"{index}. Name: <{name}>, Info: {one_line}"


@dataclass(frozen=True)
class RepicPrompt(Generic[ImageT]):
    """Chat messages (images as `{"type": "image"}` placeholders) and the images in their order."""

    messages: list[dict[str, Any]]
    images: list[ImageT]


def repic_prompt(
    image: ImageT | None, concepts: Sequence[ConceptWithImage[ImageT]], question: str
) -> RepicPrompt[ImageT]:
    """RePIC's messages for `question` about `image` with the retrieved `concepts` (in retrieval
    order): references first, numbered from 1, then the query image and question."""
    content: list[dict[str, Any]] = []
    images: list[ImageT] = []
    for index, concept in enumerate(concepts, start=1):
        content.append({"type": "image"})
        images.append(concept.image)
        content.append({"type": "text", "text": reference_text(index, concept.name, concept.info)})
    if image is not None:
        content.append({"type": "image"})
        images.append(image)
        content.append({"type": "text", "text": REPIC_QUERY_PREFIX + question})
    else:
        content.append({"type": "text", "text": question})
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": REPIC_SYSTEM_PROMPT},
        {"role": "user", "content": content},
    ]
    return RepicPrompt(messages, images)
