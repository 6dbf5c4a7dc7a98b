"""Golden tests: the RAP prompt must match, byte for byte, what the released RAP models were trained on."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from model.prompt import (
    CAPTION_QUESTION,
    CAPTION_QUESTIONS,
    GROUNDING_QUESTIONS,
    PHI3,
    RECOGNITION_QUESTIONS,
    VICUNA_V1,
    build_prompt,
    concept_entry,
    user_turn,
)

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@dataclass(frozen=True)
class Concept:
    name: str
    info: str
    image: str


BO = Concept("bo", "my shiba inu, loves chicken", "bo.jpg")
MAM = Concept("mam", "my grandmother", "mam.jpg")
TOY = Concept("toy1", "A plush toy. It is orange with a yellow belly and a brown nose.", "toy1.jpg")


def test_one_entry_is_exact() -> None:
    assert concept_entry(1, "bo", "a dog") == "1.<image>\n Name: <bo>, Info: a dog\n"


def test_no_concepts_has_no_brackets() -> None:
    assert user_turn("What is in the photo?", [], has_image=True) == "<image>\nWhat is in the photo?"


def test_one_concept_turn() -> None:
    expected = "<image>\n[1.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n]What is <bo> doing?"
    assert user_turn("What is <bo> doing?", [BO], has_image=True) == expected


def test_two_concepts_turn() -> None:
    expected = (
        "<image>\n[1.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n"
        "2.<image>\n Name: <mam>, Info: my grandmother\n]Give a personalized caption of this image."
    )
    assert user_turn(CAPTION_QUESTION, [BO, MAM], has_image=True) == expected


def test_three_concepts_turn_keeps_retrieval_order() -> None:
    expected = (
        "<image>\n[1.<image>\n Name: <toy1>, Info: A plush toy. It is orange with a yellow belly and a brown nose.\n"
        "2.<image>\n Name: <mam>, Info: my grandmother\n"
        "3.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n]Who is here?"
    )
    assert user_turn("Who is here?", [TOY, MAM, BO], has_image=True) == expected


def test_text_only_has_no_leading_image_and_numbers_from_one() -> None:
    expected = "[1.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n]What does <bo> like?"
    assert user_turn("What does <bo> like?", [BO], has_image=False) == expected


def test_text_only_training_numbering_from_zero() -> None:
    expected = (
        "[0.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n"
        "1.<image>\n Name: <mam>, Info: my grandmother\n]Who is older?"
    )
    assert user_turn("Who is older?", [BO, MAM], has_image=False, start=0) == expected


def test_vicuna_prompt_and_images_in_order() -> None:
    prompt = build_prompt(VICUNA_V1, "query.jpg", [BO, MAM], "What is <bo> doing?")
    assert prompt.text == (
        VICUNA_SYSTEM + " USER: <image>\n[1.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n"
        "2.<image>\n Name: <mam>, Info: my grandmother\n]What is <bo> doing? ASSISTANT:"
    )
    assert prompt.images == ["query.jpg", "bo.jpg", "mam.jpg"]


def test_vicuna_training_text_ends_with_answer_and_eos() -> None:
    prompt = build_prompt(VICUNA_V1, "q.jpg", [], "Describe the image.", answer="A dog.")
    assert prompt.text == VICUNA_SYSTEM + " USER: <image>\nDescribe the image. ASSISTANT: A dog.</s>"


def test_phi3_prompt_exact() -> None:
    prompt = build_prompt(PHI3, "q.jpg", [BO], CAPTION_QUESTION)
    assert prompt.text == (
        "<|system|>\nYou are a helpful AI assistant.<|end|>\n<|user|>\n"
        "<image>\n[1.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n]"
        "Give a personalized caption of this image.<|end|>\n<|assistant|>\n"
    )
    assert prompt.images == ["q.jpg", "bo.jpg"]


def test_phi3_training_text() -> None:
    prompt = build_prompt(PHI3, None, [BO], "What does <bo> like?", answer="Chicken.")
    assert prompt.text.endswith(
        "<|user|>\n[1.<image>\n Name: <bo>, Info: my shiba inu, loves chicken\n]"
        "What does <bo> like?<|end|>\n<|assistant|>\nChicken.<|end|>\n"
    )
    assert prompt.images == ["bo.jpg"]


def test_text_only_prompt_has_only_concept_images() -> None:
    prompt = build_prompt(VICUNA_V1, None, [BO, MAM], "Who is older?")
    assert prompt.images == ["bo.jpg", "mam.jpg"]
    assert prompt.text.count("<image>") == 2
    assert " USER: [1.<image>" in prompt.text


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_image_placeholders_match_images(n: int) -> None:
    concepts = [BO, MAM, TOY][:n]
    prompt = build_prompt(VICUNA_V1, "q.jpg", concepts, CAPTION_QUESTION)
    assert prompt.text.count("<image>") == len(prompt.images) == n + 1


def test_paper_instruction_templates_format_names() -> None:
    assert RECOGNITION_QUESTIONS[1].format(name="bo") == "Is <bo> in this image?"
    assert GROUNDING_QUESTIONS[0].format(name="bo") == "Give <bo>'s bounding box in the image."
    assert CAPTION_QUESTION in CAPTION_QUESTIONS
    assert len(RECOGNITION_QUESTIONS) == 15 and len(GROUNDING_QUESTIONS) == 10 and len(CAPTION_QUESTIONS) == 11
