"""Batched generation gives each request the answer it gets alone: the tiny LLaVA (RAP's backend)
and the tiny training-free VLMs (Idefics3 = SmolVLM, Qwen2-VL), fp32, greedy. Also per-request
budgets, seeds and deadlines inside one batch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from tiny_vlms import BO, MAM, QUERY, TOY, build_tiny_idefics3, build_tiny_qwen2_vl, photo

from model.batching import DeadlinePassed
from model.generator import TransformersGenerator, build_generator
from model.settings import ModelSettings
from model.types import Generation, GenerationRequest

# Mixed on purpose: a photo with one concept, text only, a tall photo with two concepts, no concept
# at all; different questions and answer budgets, so prompts have different lengths.
REQUESTS = [
    GenerationRequest(QUERY, [BO], "What is <bo> doing?", max_new_tokens=12, temperature=0),
    GenerationRequest(None, [TOY], "What does <toy1> like? Tell me in great detail please.", 20, 0),
    GenerationRequest(photo((10, 200, 30), (30, 90)), [BO, MAM], "Describe the photo.", 7, 0),
    GenerationRequest(None, [], "hi", 15, 0),
]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ModelSettings:
    return ModelSettings(model_dir=tmp_path_factory.mktemp("models"), device="cpu", dtype="float32")


@pytest.fixture(scope="module", params=["tiny-llava", "idefics3", "qwen2-vl"])
def generator(
    request: pytest.FixtureRequest, settings: ModelSettings, tmp_path_factory: pytest.TempPathFactory
) -> TransformersGenerator:
    if request.param == "tiny-llava":
        return build_generator("tiny", settings)
    build = build_tiny_idefics3 if request.param == "idefics3" else build_tiny_qwen2_vl
    return build_generator(f"hf:{build(tmp_path_factory.mktemp(request.param))}", settings)


def _ok(result: Generation | BaseException) -> Generation:
    assert isinstance(result, Generation), result
    return result


def test_first_step_logits_batched_equal_alone(generator: TransformersGenerator) -> None:
    alone = torch.cat([generator.next_token_logits([request]) for request in REQUESTS])
    batched = generator.next_token_logits(REQUESTS)
    assert batched.shape == alone.shape
    assert torch.allclose(batched, alone, atol=1e-4, rtol=0)


def test_greedy_answers_batched_equal_alone(generator: TransformersGenerator) -> None:
    alone = [_ok(generator.generate_batch([request])[0]) for request in REQUESTS]
    batched = [_ok(result) for result in generator.generate_batch(REQUESTS)]
    assert [g.text for g in batched] == [g.text for g in alone]
    assert [g.used for g in batched] == [g.used for g in alone]
    assert [g.prompt for g in batched] == [g.prompt for g in alone]
    # Alone, each ran with its own max_new_tokens; batched, the batch ran to the largest budget:
    # equal answers mean every row was cut at its own budget.


def test_the_plain_generate_call_is_a_batch_of_one(generator: TransformersGenerator) -> None:
    request = REQUESTS[0]
    single = generator.generate(request.image, request.concepts, request.question, max_new_tokens=12, temperature=0)
    assert single.text == _ok(generator.generate_batch(REQUESTS)[0]).text


def test_seeded_sampling_does_not_depend_on_the_batch(settings: ModelSettings) -> None:
    tiny = build_generator("tiny", settings)
    hot = [GenerationRequest(r.image, r.concepts, r.question, r.max_new_tokens, 5.0, seed=3) for r in REQUESTS]
    alone = [_ok(tiny.generate_batch([request])[0]).text for request in hot]
    assert [_ok(result).text for result in tiny.generate_batch(hot)] == alone
    reseeded = [GenerationRequest(r.image, r.concepts, r.question, r.max_new_tokens, 5.0, seed=4) for r in hot]
    assert [_ok(result).text for result in tiny.generate_batch(reseeded)] != alone


def test_a_request_that_cannot_be_prepared_fails_alone(settings: ModelSettings) -> None:
    tiny = build_generator("tiny", settings)
    broken = GenerationRequest(QUERY, [BO], "What?", max_new_tokens=-5)  # a budget no model accepts
    object.__setattr__(broken, "concepts", None)  # not a list of concepts: preparing it raises
    results = tiny.generate_batch([REQUESTS[0], broken, REQUESTS[3]])
    assert isinstance(results[1], Exception)
    assert _ok(results[0]).text == _ok(tiny.generate_batch([REQUESTS[0]])[0]).text
    assert _ok(results[2]).text == _ok(tiny.generate_batch([REQUESTS[3]])[0]).text


def test_a_row_past_its_deadline_stops_and_the_others_finish(settings: ModelSettings) -> None:
    tiny = build_generator("tiny", settings)
    expired = GenerationRequest(QUERY, [BO], "What is <bo> doing?", 50, 0, deadline=time.monotonic() - 1)
    results = tiny.generate_batch([expired, REQUESTS[1]])
    assert isinstance(results[0], DeadlinePassed)
    assert _ok(results[1]).text == _ok(tiny.generate_batch([REQUESTS[1]])[0]).text


def test_tiny_vlm_builds_are_saved_where_asked(tmp_path: Path) -> None:
    assert (build_tiny_qwen2_vl(tmp_path / "q") / "config.json").is_file()
