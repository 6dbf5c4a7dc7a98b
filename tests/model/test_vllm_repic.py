"""RePIC on the vllm engine (model/vllm_repic.py) against a fake OpenAI-compatible server that does
what `vllm serve` of a Qwen2.5-VL checkpoint does with the request: render the messages with the
model's own chat template, expand each image into its feature tokens with the model's processor.
The worker must send RePIC's prompt (reference photos first, then the query photo and question),
fit the context like the hf engine, carry each reference photo's view id as vLLM's multimodal
UUID, and agree with the server on every prompt token."""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from test_vllm import FakeVllm
from tiny_vlms import BO, MAM, QUERY

from model.generator import GeneratorSpecError
from model.repic import RepicGenerator, build_repic_generator
from model.repic_prompt import REPIC_QUERY_PREFIX, REPIC_SYSTEM_PROMPT, reference_text
from model.settings import ModelSettings
from model.tiny_qwen import build_tiny_qwen
from model.types import view_key
from model.vllm import PromptMismatch, build_vllm_generator, media_uuid
from model.vllm_repic import VllmRepicGenerator, build_vllm_repic_generator

SERVED = "repic"
BO_V = dataclasses.replace(BO, view_id=view_key(1, b"bo"))
MAM_V = dataclasses.replace(MAM, view_id=view_key(2, b"mam"))


class FakeQwenVllm(FakeVllm):
    """The fake server of test_vllm.py, rendering like vLLM does for a chat-template model."""

    def __init__(self, processor: Any) -> None:
        super().__init__(processor.tokenizer, processor.tokenizer.convert_tokens_to_ids("<|image_pad|>"))
        self.processor = processor
        self.served = [SERVED]
        self.max_model_len = 32768
        self.answer = lambda body: f" seed={body.get('seed')} ok "

    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        images: list[Image.Image] = []
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                messages.append(message)
                continue
            parts: list[dict[str, Any]] = []
            for part in content:
                if part["type"] == "image_url":
                    data = part["image_url"]["url"].split(",", 1)[1]
                    images.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
                    parts.append({"type": "image"})
                else:
                    parts.append(part)
            messages.append({"role": message["role"], "content": parts})
        text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = self.processor(text=[text], images=images or None, return_tensors="pt")["input_ids"][0].tolist()
        choice = {"index": 0, "message": {"role": "assistant", "content": self.answer(body)}, "finish_reason": "stop"}
        usage = {"prompt_tokens": len(ids), "completion_tokens": 3}
        return 200, {"object": "chat.completion", "choices": [choice], "prompt_token_ids": ids, "usage": usage}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    build_tiny_qwen(models / "tiny-qwen2.5-vl")
    return models


@pytest.fixture
def fake(model_dir: Path) -> Iterator[FakeQwenVllm]:
    from transformers import AutoProcessor

    server = FakeQwenVllm(AutoProcessor.from_pretrained(str(model_dir / "tiny-qwen2.5-vl")))
    yield server
    server.close()


def settings_for(model_dir: Path, url: str) -> ModelSettings:
    return ModelSettings(
        model_dir=model_dir, device="cpu", dtype="float32", engine="vllm", vllm_url=url, vllm_model=SERVED
    )


def test_repic_prompt_goes_to_the_server_with_view_uuids(model_dir: Path, fake: FakeQwenVllm) -> None:
    from model.engine import ServingEngine
    from model.profiles import load_bundle

    settings = settings_for(model_dir, fake.url)
    engine = ServingEngine(load_bundle("tiny-repic", settings), settings)  # what RAPBOT_ENGINE=vllm builds
    assert isinstance(engine.generator.inner, VllmRepicGenerator)
    engine.close()
    with pytest.raises(GeneratorSpecError):
        build_vllm_generator("tiny-repic", settings)  # the RAP client never sends RePIC's prompt
    generator = build_vllm_repic_generator("tiny-repic", settings)
    assert generator.max_concepts == settings.repic_max_concepts
    answer = generator.generate(QUERY, [BO_V, MAM_V], "What is <bo> doing?", max_new_tokens=5, seed=4)
    assert answer.text == "seed=4 ok" and answer.used == ["bo", "mam"] and answer.tokens == 3
    (body,) = fake.bodies
    system, user = body["messages"]
    assert system == {"role": "system", "content": REPIC_SYSTEM_PROMPT}
    kinds = [part["type"] for part in user["content"]]
    assert kinds == ["image_url", "text", "image_url", "text", "image_url", "text"]  # references, then the query
    texts = [part["text"] for part in user["content"] if part["type"] == "text"]
    assert texts == [
        reference_text(1, "bo", BO.info),
        reference_text(2, "mam", MAM.info),
        REPIC_QUERY_PREFIX + "What is <bo> doing?",
    ]
    uuids = [part.get("uuid") for part in user["content"] if part["type"] == "image_url"]
    assert uuids == [media_uuid(SERVED, BO_V.view_id or ""), media_uuid(SERVED, MAM_V.view_id or ""), None]
    assert body["max_tokens"] == 5 and body["seed"] == 4 and body["add_generation_prompt"] is True


def test_the_prompt_tokens_match_the_hf_engine(model_dir: Path, fake: FakeQwenVllm) -> None:
    """The worker's prompt (what the hf engine's RepicGenerator feeds the model) is what the server
    renders: same text, same tokens; a server rendering something else is a PromptMismatch."""
    settings = settings_for(model_dir, fake.url)
    generator = build_vllm_repic_generator("tiny-repic", settings)
    hf = build_repic_generator("tiny-repic", ModelSettings(model_dir=model_dir, device="cpu", dtype="float32"))
    assert isinstance(hf, RepicGenerator)
    for image, concepts in ((QUERY, [BO_V]), (None, [MAM_V]), (QUERY, [])):
        ours = generator.prepare(image, concepts, "hello?")
        theirs = hf.prepare(image, concepts, "hello?")
        assert ours.prompt == theirs.prompt
        assert ours.inputs["input_ids"].tolist() == theirs.inputs["input_ids"].tolist()
        generator.generate(image, concepts, "hello?", max_new_tokens=3)
    fake.answer = lambda body: "x"
    original = fake.chat

    def other_template(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, reply = original(body)
        reply["prompt_token_ids"] = reply["prompt_token_ids"][1:]
        return status, reply

    fake.chat = other_template  # type: ignore[method-assign]
    with pytest.raises(PromptMismatch):
        generator.generate(QUERY, [BO_V], "hello?", max_new_tokens=3)
