"""Golden tests: RePIC's prompt as its public evaluation code builds it (github.com/oyt9306/RePIC,
caption_eval_single.py / caption_eval_multi_2.py / caption_eval_multi_4.py): the messages, and the
exact text Qwen2.5-VL's chat template makes of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from model.repic_prompt import REPIC_SYSTEM_PROMPT, reference_text, repic_prompt

SYSTEM = (
    "You are a captioning assistant. Your task is to generate an accurate caption for the query image.\n"
    "Below is additional information about the reference images."
)
VISION = "<|vision_start|><|image_pad|><|vision_end|>"
HEAD = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n"
TAIL = "<|im_end|>\n<|im_start|>assistant\n"


@dataclass(frozen=True)
class Concept:
    name: str
    info: str
    image: str


BO = Concept("bo", "my shiba inu, loves chicken", "bo.jpg")
MAM = Concept("mam", "my grandmother", "mam.jpg")
TOY = Concept("toy1", "A plush toy. It is orange with a yellow belly.", "toy1.jpg")
CUP = Concept("cup", "my blue mug", "cup.jpg")


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny Qwen2.5-VL's processor, saved and loaded back (its chat template is Qwen2.5-VL's)."""
    from transformers import AutoProcessor

    from model.tiny_qwen import build_processor, build_tokenizer

    directory: Path = tmp_path_factory.mktemp("qwen-processor")
    build_processor(build_tokenizer()).save_pretrained(directory)
    return AutoProcessor.from_pretrained(directory)


def render(processor: Any, image: str | None, concepts: list[Concept], question: str) -> str:
    prompt = repic_prompt(image, concepts, question)
    return str(processor.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False))


def test_system_prompt_is_repics() -> None:
    assert REPIC_SYSTEM_PROMPT == SYSTEM


def test_reference_text_is_raps_entry_without_the_image_line() -> None:
    # RePIC: "1.<image>\n Name: <bo>, Info: ...\n" with "<image>\n" removed, cut at the newline.
    assert reference_text(1, "bo", "a dog") == "1. Name: <bo>, Info: a dog"
    assert reference_text(3, "bo", "a dog\nloves chicken") == "3. Name: <bo>, Info: a dog loves chicken"


def test_no_concepts_messages() -> None:
    prompt = repic_prompt("q.jpg", [], "Give a personalized caption of this image.")
    assert prompt.messages == [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": "This is the query image. Give a personalized caption of this image."},
            ],
        },
    ]
    assert prompt.images == ["q.jpg"]


def test_one_concept_messages_reference_first() -> None:
    prompt = repic_prompt("q.jpg", [BO], "What is <bo> doing?")
    assert prompt.messages[1]["content"] == [
        {"type": "image"},
        {"type": "text", "text": "1. Name: <bo>, Info: my shiba inu, loves chicken"},
        {"type": "image"},
        {"type": "text", "text": "This is the query image. What is <bo> doing?"},
    ]
    assert prompt.images == ["bo.jpg", "q.jpg"]


def test_no_concepts_text(processor: Any) -> None:
    expected = HEAD + VISION + "This is the query image. Give a personalized caption of this image." + TAIL
    assert render(processor, "q.jpg", [], "Give a personalized caption of this image.") == expected


def test_one_concept_text(processor: Any) -> None:
    expected = (
        HEAD
        + VISION
        + "1. Name: <bo>, Info: my shiba inu, loves chicken"
        + VISION
        + "This is the query image. What is <bo> doing?"
        + TAIL
    )
    assert render(processor, "q.jpg", [BO], "What is <bo> doing?") == expected


def test_four_concepts_text_keeps_retrieval_order(processor: Any) -> None:
    expected = (
        HEAD
        + VISION
        + "1. Name: <toy1>, Info: A plush toy. It is orange with a yellow belly."
        + VISION
        + "2. Name: <mam>, Info: my grandmother"
        + VISION
        + "3. Name: <bo>, Info: my shiba inu, loves chicken"
        + VISION
        + "4. Name: <cup>, Info: my blue mug"
        + VISION
        + "This is the query image. Give a personalized caption of this image."
        + TAIL
    )
    assert render(processor, "q.jpg", [TOY, MAM, BO, CUP], "Give a personalized caption of this image.") == expected
    images = repic_prompt("q.jpg", [TOY, MAM, BO, CUP], "x").images
    assert images == ["toy1.jpg", "mam.jpg", "bo.jpg", "cup.jpg", "q.jpg"]


def test_question_without_a_photo_keeps_references_and_drops_the_query_phrase(processor: Any) -> None:
    expected = HEAD + VISION + "1. Name: <bo>, Info: my shiba inu, loves chicken" + "What does <bo> like?" + TAIL
    assert render(processor, None, [BO], "What does <bo> like?") == expected
    assert repic_prompt(None, [BO], "What does <bo> like?").images == ["bo.jpg"]
