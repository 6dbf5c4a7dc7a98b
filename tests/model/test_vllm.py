"""The vLLM engine's client (model/vllm.py) against a fake OpenAI-compatible server on 127.0.0.1:
the exact request it sends (prompt bytes, images in order, decoding options), token-exactness with
SentencePiece tokenizers, concurrency, context fitting and error mapping. No CUDA, no vLLM.

The fake server stands in for `vllm serve` the way vLLM treats these requests: it renders the
message with the raw chat template, refuses a placeholder count that differs from the image count,
tokenizes the rendered text in ONE pass with the checkpoint's tokenizer and expands each `<image>`
token into the image's feature tokens."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from tiny_vlms import BO, MAM, QUERY, TOY

from model.batching import DeadlinePassed, EngineUnavailable
from model.generator import GeneratorSpecError, pad_to_square
from model.prompt import IMAGE_TOKEN, PHI3, VICUNA_V1, build_prompt
from model.settings import ModelSettings
from model.tiny_llava import IMAGE_TOKENS, build_processor, build_tiny_llava
from model.types import ConceptRef, GenerationRequest
from model.vllm import (
    RAW_CHAT_TEMPLATE,
    ContextOverflow,
    PromptMismatch,
    VllmGenerator,
    build_vllm_generator,
    collapse_images,
    safe_url,
    wire_text,
)

ROOT = Path(__file__).resolve().parents[2]
SERVED = "rap"
QUESTION = "What is <bo> doing?"
FILL = (123, 117, 104)  # the CLIP mean colour of the tiny processor, as RapLlavaGenerator pads


# ---- the fake vLLM server -----------------------------------------------------------------------


class FakeVllm:
    """A ThreadingHTTPServer answering /v1/models and /v1/chat/completions like vLLM would."""

    def __init__(self, tokenizer: Any, image_token_id: int) -> None:
        self.tokenizer = tokenizer
        self.image_token_id = image_token_id
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.served = [SERVED]
        self.max_model_len: int | None = 2048
        self.status = 200  # 500: the engine died
        self.delay_s = 0.0
        self.in_flight = 0
        self.most_in_flight = 0  # how many requests the server held at the same time
        self.render: Callable[[str], str] = lambda text: text  # RAW_CHAT_TEMPLATE
        self.answer: Callable[[dict[str, Any]], str] = lambda body: (
            f"  seed={body.get('seed')} ok{body['stop'][0]}ignored"
        )
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                models = [{"id": name, "object": "model", "max_model_len": fake.max_model_len} for name in fake.served]
                self._json(200, {"object": "list", "data": models})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.bodies.append(body)
                    fake.in_flight += 1
                    fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                time.sleep(fake.delay_s)
                status, reply = fake.chat(body)
                with fake.lock:
                    fake.in_flight -= 1
                self._json(status, reply)

            def _json(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:  # the client gave up (timeout tests)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.status != 200:
            return self.status, {"error": {"message": "EngineCore encountered an issue", "code": self.status}}
        content = body["messages"][0]["content"]
        images = [part for part in content if part["type"] == "image_url"]
        prompt = self.render("\n".join(part["text"] for part in content if part["type"] == "text"))
        if prompt.count(IMAGE_TOKEN) != len(images):
            return 400, {"error": {"message": "Found more '<image>' placeholders in input prompt than items"}}
        ids = self.tokenizer(prompt, add_special_tokens=body.get("add_special_tokens", False))["input_ids"]
        expanded = [t for token in ids for t in ([token] * IMAGE_TOKENS if token == self.image_token_id else [token])]
        if self.max_model_len is not None and len(expanded) + body["max_tokens"] > self.max_model_len:
            message = (
                f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                f"{len(expanded) + body['max_tokens']} tokens."
            )
            return 400, {"error": {"message": message, "type": "BadRequestError", "code": 400}}
        text = self.answer(body)
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        return 200, {"object": "chat.completion", "choices": [choice], "prompt_token_ids": expanded}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    build_tiny_llava(models / "tiny-llava")
    return models


@pytest.fixture(scope="module")
def processor(model_dir: Path) -> Any:
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(str(model_dir / "tiny-llava"))


@pytest.fixture
def fake(processor: Any) -> Iterator[FakeVllm]:
    server = FakeVllm(processor.tokenizer, processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    yield server
    server.close()


def make_settings(model_dir: Path, url: str, **overrides: Any) -> ModelSettings:
    values: dict[str, Any] = {
        "model_dir": model_dir,
        "device": "cpu",
        "dtype": "float32",
        "engine": "vllm",
        "vllm_url": url,
        "vllm_model": SERVED,
        **overrides,
    }
    return ModelSettings(**values)


def generator_for(model_dir: Path, url: str, spec: str = "tiny", **overrides: Any) -> VllmGenerator:
    return build_vllm_generator(spec, make_settings(model_dir, url, **overrides))


def decode_image(part: dict[str, Any]) -> Image.Image:
    url = part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def assert_same_pixels(got: Image.Image, want: Image.Image) -> None:
    assert got.size == want.size
    assert got.tobytes() == want.convert("RGB").tobytes()


# ---- the request: exact prompt, images, decoding options ----------------------------------------


@pytest.mark.parametrize(("spec", "template"), [("tiny", VICUNA_V1), ("rap-phi3", PHI3), ("rap-llava", VICUNA_V1)])
def test_request_carries_the_exact_prompt_and_images(model_dir: Path, fake: FakeVllm, spec: str, template: Any) -> None:
    full_spec = spec if spec == "tiny" else f"{spec}:{model_dir / 'tiny-llava'}"
    generator = generator_for(model_dir, fake.url, full_spec)
    answer = generator.generate(QUERY, [BO, MAM], QUESTION, max_new_tokens=16, temperature=0, seed=7)

    expected = build_prompt(template, QUERY, [BO, MAM], QUESTION)
    (body,) = fake.bodies
    text_parts = [p for p in body["messages"][0]["content"] if p["type"] == "text"]
    image_parts = [p for p in body["messages"][0]["content"] if p["type"] == "image_url"]
    assert [p["text"] for p in text_parts] == [expected.text]  # byte for byte
    assert body["messages"][0]["role"] == "user" and len(body["messages"]) == 1
    assert len(image_parts) == 3  # query first, then the concepts in prompt order
    for part, original in zip(image_parts, [QUERY, BO.image, MAM.image], strict=True):
        assert_same_pixels(decode_image(part), pad_to_square(original, FILL))
    assert decode_image(image_parts[0]).size == (120, 120)
    assert body["model"] == SERVED
    assert body["temperature"] == 0  # greedy
    assert body["seed"] == 7
    assert body["max_tokens"] == 16
    assert body["stop"] == [template.stop]
    assert body["add_special_tokens"] is True
    assert body["top_p"] == 1.0 and body["top_k"] == -1 and body["stream"] is False
    assert answer.text == "seed=7 ok"  # stripped, cut at the stop string
    assert answer.prompt == expected.text
    assert answer.used == ["bo", "mam"] and answer.dropped == []
    assert generator.max_concepts == (2 if spec == "rap-llava" else 3)


def test_text_only_question_and_no_concepts(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url)
    answer = generator.generate(None, [TOY], "Where is <toy1>?", max_new_tokens=8)
    first = fake.bodies[-1]["messages"][0]["content"]
    assert first[0]["text"] == build_prompt(VICUNA_V1, None, [TOY], "Where is <toy1>?").text
    assert not first[0]["text"].split("USER: ", 1)[1].startswith(IMAGE_TOKEN)
    assert_same_pixels(decode_image(first[1]), pad_to_square(TOY.image, FILL))
    assert answer.used == ["toy1"]

    generator.generate(QUERY, [], "Describe the image.", max_new_tokens=8)
    content = fake.bodies[-1]["messages"][0]["content"]
    assert content[0]["text"] == build_prompt(VICUNA_V1, QUERY, [], "Describe the image.").text
    assert "[" not in content[0]["text"].split("USER: ", 1)[1]  # no brackets without concepts
    assert len(content) == 2


def test_temperature_defaults_and_deterministic(model_dir: Path, fake: FakeVllm) -> None:
    generator_for(model_dir, fake.url, temperature=0.2).generate(QUERY, [BO], QUESTION, max_new_tokens=4)
    assert fake.bodies[-1]["temperature"] == pytest.approx(0.2)
    assert "seed" not in fake.bodies[-1]
    generator_for(model_dir, fake.url, deterministic=True).generate(
        QUERY, [BO], QUESTION, max_new_tokens=4, temperature=0.9
    )
    assert fake.bodies[-1]["temperature"] == 0


def test_server_prompt_tokens_equal_the_piecewise_training_tokens(
    model_dir: Path, fake: FakeVllm, processor: Any
) -> None:
    generator = generator_for(model_dir, fake.url)
    prepared = generator.prepare(QUERY, [BO, MAM], QUESTION)
    ours = prepared.inputs["input_ids"][0].tolist()
    assert ours.count(generator.client_state.image_token_id) == 3 * IMAGE_TOKENS
    _, reply = fake.chat(generator.request_body(prepared, GenerationRequest(QUERY, [BO, MAM], QUESTION)))
    assert reply["prompt_token_ids"] == ours


def test_a_server_with_another_chat_template_is_caught(model_dir: Path, fake: FakeVllm) -> None:
    fake.render = lambda text: "USER: " + text + " ASSISTANT:"  # e.g. the checkpoint's own LLaVA template
    with pytest.raises(PromptMismatch, match="--chat-template"):
        generator_for(model_dir, fake.url).generate(QUERY, [BO], QUESTION, max_new_tokens=4)


# ---- exactness with SentencePiece tokenizers ----------------------------------------------------


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sentencepiece as spm

    folder = tmp_path_factory.mktemp("spm")
    corpus = folder / "corpus.txt"
    corpus.write_text(
        "\n".join(
            [
                VICUNA_V1.system,
                "USER: ASSISTANT: Name: Info: Give a personalized caption of this image. What is doing?",
                "my shiba inu, loves chicken. my grandmother. an orange plush toy. [1. 2. 3.]",
                "<|system|> You are a helpful AI assistant. <|end|> <|user|> <|assistant|>",
            ]
            * 40
        )
    )
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(folder / "sp"),
        vocab_size=500,
        model_type="bpe",
        byte_fallback=True,
        add_dummy_prefix=True,  # Llama's: a "▁" in front of every tokenized text
        bos_id=1,
        eos_id=2,
        unk_id=0,
        pad_id=-1,
        character_coverage=1.0,
        remove_extra_whitespaces=False,
        minloglevel=2,
    )
    return folder / "sp.model"


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("template", [VICUNA_V1, PHI3])
def test_wire_text_gives_the_training_tokens_for_llama_tokenizers(
    tmp_path: Path, sentencepiece_model: Path, legacy: bool, template: Any
) -> None:
    import shutil

    from transformers import AutoTokenizer

    from model.generator import llava_tokenize

    shutil.copy(sentencepiece_model, tmp_path / "tokenizer.model")
    config = {"tokenizer_class": "LlamaTokenizer", "legacy": legacy, "bos_token": "<s>", "eos_token": "</s>"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({**config, "unk_token": "<unk>"}))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path))
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    image_id: int = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)  # type: ignore[assignment]
    text = build_prompt(template, QUERY, [BO, MAM], QUESTION).text
    expected = llava_tokenize(build_processor(tokenizer), text, image_id)["input_ids"][0].tolist()

    sent = wire_text(tokenizer, text, expected, image_id)
    one_pass = tokenizer(sent)["input_ids"]  # what vLLM does with the rendered text
    assert collapse_images(one_pass, image_id) == collapse_images(expected, image_id)
    # Legacy SentencePiece already matches on the plain text; non-legacy needs the "▁" after <image>.
    assert (sent == text) is legacy
    if not legacy:
        assert collapse_images(tokenizer(text)["input_ids"], image_id) != collapse_images(expected, image_id)


def test_wire_text_refuses_what_it_cannot_express() -> None:
    def odd_tokenizer(text: str) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text[::-1]]}

    with pytest.raises(ValueError, match="RAPBOT_ENGINE=hf"):
        wire_text(odd_tokenizer, "ab<image>c", [97, 98, 5, 99], 5)


# ---- concurrency ------------------------------------------------------------------------------


def test_concurrent_calls_each_get_their_own_answer(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url)
    fake.delay_s = 0.2  # all of them wait in the server at once
    answers: dict[int, str] = {}

    def ask(seed: int) -> None:
        answers[seed] = generator.generate(QUERY, [BO], QUESTION, max_new_tokens=4, seed=seed).text

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == {seed: f"seed={seed} ok" for seed in range(8)}
    assert len(fake.bodies) == 8
    assert fake.most_in_flight > 1  # they waited in the server side by side, not one after another


def test_generate_batch_keeps_order_and_fails_requests_alone(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url)
    fake.answer = lambda body: f"for {body['seed']}"
    requests = [GenerationRequest(QUERY, [BO], QUESTION, max_new_tokens=4, seed=s) for s in (3, 1, 2)]
    broken = GenerationRequest(QUERY, [ConceptRef("x", "y", None)], QUESTION, seed=9)  # type: ignore[arg-type]
    results = generator.generate_batch([*requests, broken])
    assert [getattr(r, "text", None) for r in results[:3]] == ["for 3", "for 1", "for 2"]
    assert isinstance(results[3], Exception)
    assert generator.generate_batch([]) == []


def test_a_passed_deadline_sends_nothing(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url)
    late = GenerationRequest(QUERY, [BO], QUESTION, deadline=time.monotonic() - 1)
    (result,) = generator.generate_batch([late])
    assert isinstance(result, DeadlinePassed)
    assert fake.bodies == []


# ---- context fitting ----------------------------------------------------------------------------


def test_the_weakest_concept_is_dropped_to_fit_the_served_context(model_dir: Path, fake: FakeVllm) -> None:
    probe = generator_for(model_dir, fake.url)
    both = len(probe.prepare(QUERY, [BO, MAM], QUESTION).inputs["input_ids"][0])
    bo_only = len(probe.prepare(QUERY, [BO], QUESTION).inputs["input_ids"][0])
    assert both > bo_only + 1
    fake.max_model_len = bo_only + 17  # room for BO and the 16-token answer floor, not for MAM
    answer = generator_for(model_dir, fake.url).generate(QUERY, [BO, MAM], QUESTION, max_new_tokens=64)
    assert answer.used == ["bo"] and answer.dropped == ["mam"]  # MAM scored 0.6, BO 0.9
    assert fake.bodies[-1]["max_tokens"] == 17
    assert len(decode_image_parts(fake.bodies[-1])) == 2


def decode_image_parts(body: dict[str, Any]) -> list[Image.Image]:
    return [decode_image(p) for p in body["messages"][0]["content"] if p["type"] == "image_url"]


# ---- errors -----------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_engine_unavailable_without_secrets(model_dir: Path) -> None:
    url = f"http://admin:hunter2@127.0.0.1:{closed_port()}/v1?token=abc"
    generator = generator_for(model_dir, url)
    with pytest.raises(EngineUnavailable) as caught:
        generator.generate(QUERY, [BO], QUESTION)
    message = str(caught.value)
    assert "RAPBOT_VLLM_URL" in message and "Cannot reach" in message and "127.0.0.1" in message
    assert "hunter2" not in message and "admin" not in message and "abc" not in message


def test_server_errors_are_engine_unavailable(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url)
    generator.load()
    fake.status = 500
    with pytest.raises(EngineUnavailable, match=r"HTTP 500.*EngineCore"):
        generator.generate(QUERY, [BO], QUESTION)


def test_a_slow_server_times_out(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url, vllm_timeout_s=0.3)
    generator.load()
    fake.delay_s = 1.5
    start = time.monotonic()
    with pytest.raises(EngineUnavailable, match="RAPBOT_VLLM_TIMEOUT_S"):
        generator.generate(QUERY, [BO], QUESTION)
    assert time.monotonic() - start < 1.4


def test_a_deadline_cuts_the_wait_short(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url)
    generator.load()
    fake.delay_s = 1.5
    (result,) = generator.generate_batch([GenerationRequest(QUERY, [BO], QUESTION, deadline=time.monotonic() + 0.3)])
    assert isinstance(result, DeadlinePassed)


def test_context_refusal_is_a_clear_value_error(model_dir: Path, fake: FakeVllm) -> None:
    generator = generator_for(model_dir, fake.url)
    generator.load()  # it read max_model_len 2048; the server then runs with less
    fake.max_model_len = 40
    with pytest.raises(ContextOverflow, match="maximum context length") as caught:
        generator.generate(QUERY, [BO], QUESTION, max_new_tokens=32)
    assert isinstance(caught.value, ValueError)
    assert "--max-model-len" in str(caught.value)


def test_a_model_the_server_does_not_serve(model_dir: Path, fake: FakeVllm) -> None:
    fake.served = ["something-else"]
    with pytest.raises(EngineUnavailable, match="RAPBOT_VLLM_MODEL"):
        generator_for(model_dir, fake.url).generate(QUERY, [BO], QUESTION)


def test_factory_errors(model_dir: Path) -> None:
    with pytest.raises(GeneratorSpecError, match="RAPBOT_VLLM_URL"):
        build_vllm_generator("tiny", make_settings(model_dir, "", vllm_url=None))
    with pytest.raises(GeneratorSpecError, match="RAPBOT_ENGINE=hf"):
        build_vllm_generator("hf:some/model", make_settings(model_dir, "http://x:1"))
    with pytest.raises(GeneratorSpecError, match="RAPBOT_VLLM_MODEL"):
        build_vllm_generator("tiny", make_settings(model_dir, "http://x:1", vllm_model=None, generator_adapter="/a"))
    default = build_vllm_generator(
        "rap-phi3:Hoar012/RAP-Phi3-mini", make_settings(model_dir, "http://x:1/v1/", vllm_model=None)
    )
    assert default.served_model == "Hoar012/RAP-Phi3-mini" and default.url == "http://x:1"
    assert default.template is PHI3 and default.max_concepts == 3
    assert safe_url("https://u:p@host:8000/v1?k=s") == "https://host:8000/v1"


# ---- deployment -------------------------------------------------------------------------------


def test_compose_serves_with_the_raw_chat_template() -> None:
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["vllm"]
    command = [str(part) for part in service["command"]]
    assert command[command.index("--chat-template") + 1] == RAW_CHAT_TEMPLATE
    assert command[command.index("--chat-template-content-format") + 1] == "string"
    assert "--enable-prefix-caching" in command
    assert service["profiles"] == ["vllm"]


def test_the_serving_engine_sends_each_question_straight_to_the_server(model_dir: Path, fake: FakeVllm) -> None:
    """RAPBOT_ENGINE=vllm: the engine does not hold questions back to form batches (vLLM batches
    continuously itself); concurrent callers are in the server at the same time."""
    from model.engine import ServingEngine
    from model.profiles import load_bundle

    settings = make_settings(model_dir, fake.url, max_batch=4, batch_wait_ms=1000)
    engine = ServingEngine(load_bundle("tiny", settings), settings)
    fake.delay_s = 0.2
    answers: dict[int, str] = {}

    def ask(seed: int) -> None:
        answers[seed] = engine.bundle.generator.generate(QUERY, [BO], QUESTION, max_new_tokens=4, seed=seed).text

    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    engine.close()
    assert answers == {seed: f"seed={seed} ok" for seed in range(3)}
    assert fake.most_in_flight > 1 and engine.stats()["generate"]["batches"] == 0


def test_reference_photos_carry_their_view_id_as_multimodal_uuid(model_dir: Path, fake: FakeVllm) -> None:
    """Concept photos encoded once on vLLM: each stored reference photo is sent with a `uuid` made of
    its view id (vLLM's multi_modal_uuids), the same in every request that shows it, so the server's
    encoder cache hits; the query photo has none (vLLM hashes it); a changed photo is a new uuid."""
    import dataclasses

    from model.types import view_key
    from model.vllm import media_uuid

    bo_id, mam_id = view_key(7, b"bo"), view_key(8, b"mam")
    bo = dataclasses.replace(BO, view_id=bo_id)
    mam = dataclasses.replace(MAM, view_id=mam_id)
    generator = generator_for(model_dir, fake.url)
    generator.generate(QUERY, [bo, mam], QUESTION, max_new_tokens=4, seed=1)
    generator.generate(None, [mam], "what does <mam> like?", max_new_tokens=4, seed=1)
    generator.generate(QUERY, [dataclasses.replace(bo, view_id=view_key(7, b"new photo"))], QUESTION, max_new_tokens=4)
    parts = [[p for p in body["messages"][0]["content"] if p["type"] == "image_url"] for body in fake.bodies]
    assert [p.get("uuid") for p in parts[0]] == [None, media_uuid(SERVED, bo_id), media_uuid(SERVED, mam_id)]
    assert [p.get("uuid") for p in parts[1]] == [media_uuid(SERVED, mam_id)]
    assert parts[2][1]["uuid"] != parts[0][1]["uuid"]
    assert_same_pixels(decode_image(parts[1][0]), pad_to_square(MAM.image, FILL))  # the photo still travels
