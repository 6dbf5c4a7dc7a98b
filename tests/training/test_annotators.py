"""Annotators: the OpenAI-compatible client against a local fake endpoint (request shape, retries,
errors that never show the key), the cache, the local transformers VLM on the tiny LLaVA, and a
build whose captions, descriptions and QA come from the endpoint."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import SecretStr

from training.annotators import (
    AnnotatorError,
    CachedAnnotator,
    LocalVLMAnnotator,
    OpenAICompatibleAnnotator,
    build_chat_request,
)
from training.builder import DatasetBuilder
from training.schema import read_samples
from training.settings import AnnotatorSettings, BuildConfig, TaskRatios
from training.sources import read_coco

KEY = "sk-test-secret-123"


class FakeEndpoint:
    """An OpenAI-style /v1/chat/completions on 127.0.0.1 that records requests and replays a script
    of (status, answer text) replies, then answers with the prompt's first words."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                status, text = endpoint.script.pop(0) if endpoint.script else (200, "")
                if not text:
                    prompt = body["messages"][0]["content"][0]["text"]
                    names = re.findall(r"<[^<>]+>", prompt)
                    text = f"{' and '.join(names[:2]) or 'It'} in a photo."
                reply = (
                    {"choices": [{"message": {"role": "assistant", "content": text}}]}
                    if status == 200
                    else {"error": {"message": text}}
                )
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    fake = FakeEndpoint()
    yield fake
    fake.server.shutdown()


def annotator_for(endpoint: FakeEndpoint, **overrides: Any) -> OpenAICompatibleAnnotator:
    settings = AnnotatorSettings(
        kind="openai", base_url=endpoint.url, api_key=SecretStr(KEY), model="vision-1", **overrides
    )
    return OpenAICompatibleAnnotator(settings, backoff_s=0.01)


def test_request_holds_text_then_images_as_data_urls() -> None:
    red = Image.new("RGB", (8, 6), (255, 0, 0))
    body = build_chat_request("Describe it.", [red, red.convert("L")], model="m", max_tokens=50, temperature=0.1)
    assert body["model"] == "m" and body["max_tokens"] == 50 and body["temperature"] == 0.1
    content = body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Describe it."}
    assert [c["type"] for c in content[1:]] == ["image_url", "image_url"]
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    red_channel = decoded.convert("RGB").getpixel((4, 3))
    assert decoded.size == (8, 6) and isinstance(red_channel, tuple) and red_channel[0] > 240


def test_client_posts_to_chat_completions_with_the_key(endpoint: FakeEndpoint) -> None:
    answer = annotator_for(endpoint).ask("Caption <bo>.", [Image.new("RGB", (4, 4))])
    assert answer == "<bo> in a photo."
    request = endpoint.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "vision-1"


def test_rate_limits_and_server_errors_are_retried(endpoint: FakeEndpoint) -> None:
    endpoint.script = [(429, "slow down"), (503, "busy"), (200, "fine")]
    assert annotator_for(endpoint, max_retries=2).ask("q", []) == "fine"
    assert len(endpoint.requests) == 3


def test_errors_are_clear_and_never_show_the_key(endpoint: FakeEndpoint) -> None:
    endpoint.script = [(401, f"bad key {KEY}")]
    with pytest.raises(AnnotatorError) as refused:
        annotator_for(endpoint).ask("q", [])
    assert "refused the API key" in str(refused.value) and KEY not in str(refused.value)
    endpoint.script = [(500, "x"), (500, "x")]
    with pytest.raises(AnnotatorError, match="gave up after 2 attempts"):
        annotator_for(endpoint, max_retries=1).ask("q", [])
    settings = AnnotatorSettings(kind="openai", base_url="http://127.0.0.1:9/v1", api_key=SecretStr(KEY), max_retries=0)
    with pytest.raises(AnnotatorError) as unreachable:
        OpenAICompatibleAnnotator(settings).ask("q", [])
    assert "cannot reach" in str(unreachable.value) and KEY not in str(unreachable.value)


def test_cache_answers_repeats_without_asking(endpoint: FakeEndpoint, tmp_path: Path) -> None:
    image = Image.new("RGB", (5, 5), (1, 2, 3))
    cached = CachedAnnotator(annotator_for(endpoint), tmp_path / "cache.jsonl")
    first = cached.ask("Describe <bo>.", [image])
    assert cached.ask("Describe <bo>.", [image]) == first
    assert len(endpoint.requests) == 1
    cached.ask("Describe <bo>.", [Image.new("RGB", (5, 5), (9, 9, 9))])  # another image: a new question
    assert len(endpoint.requests) == 2
    reopened = CachedAnnotator(annotator_for(endpoint), tmp_path / "cache.jsonl")
    assert reopened.ask("Describe <bo>.", [image]) == first and len(endpoint.requests) == 2


def test_build_with_an_annotator_makes_every_task(coco_set: Path, endpoint: FakeEndpoint, tmp_path: Path) -> None:
    ratios = TaskRatios(
        recognition_positive=0, recognition_negative=0, grounding=0, caption=1, description=1, qa=1, qa_text_only=1
    )
    cfg = BuildConfig(seed=2, ratios=ratios, noise_ratio=0.0)
    source = read_coco(coco_set, None, seed=2, min_crop_px=8)
    summary = DatasetBuilder(cfg, annotator_for(endpoint)).build(source, tmp_path / "out")
    assert set(summary["per_task"]) == {"caption", "description", "qa", "qa_text"}
    samples = read_samples(tmp_path / "out/samples.json")
    text_only = [s for s in samples if s.type == "qa_text"]
    assert text_only and all(s.image is None and "<image>" not in s.conversations[0].value for s in text_only)
    caption = next(s for s in samples if s.type == "caption" and s.image and "000002" in s.image)  # the astronaut photo
    assert len(caption.extra) == 2  # both of its concepts
    # unnamed concepts got a description from the annotator (the annotations had none)
    infos = {c.name: c.info for s in samples for c in s.extra.values()}
    assert infos["Zoë the cat"] == "A ginger tabby cat with green eyes."
    assert all(info.endswith("in a photo.") for name, info in infos.items() if name != "Zoë the cat")


def test_local_vlm_annotator_runs_the_tiny_llava(tiny_llava_dir: Path) -> None:
    annotator = LocalVLMAnnotator(str(tiny_llava_dir), device="cpu", max_new_tokens=5)
    text = annotator.ask("Describe this object.", [Image.new("RGB", (40, 30), (10, 200, 30))])
    assert isinstance(text, str)
    assert annotator.ask("Describe this object.", [Image.new("RGB", (40, 30), (10, 200, 30))]) == text  # greedy


def test_local_vlm_annotator_names_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(AnnotatorError, match="RAPBOT_ANNOTATOR_LOCAL_MODEL"):
        LocalVLMAnnotator(str(tmp_path / "nothing"), device="cpu").ask("q", [])


def test_settings_choose_the_annotator(tmp_path: Path) -> None:
    from training.annotators import make_annotator

    assert make_annotator(AnnotatorSettings(kind="none")) is None
    cached = make_annotator(AnnotatorSettings(kind="openai", cache_file=tmp_path / "c.jsonl"))
    assert isinstance(cached, CachedAnnotator) and isinstance(cached.inner, OpenAICompatibleAnnotator)
    with pytest.raises(AnnotatorError, match="RAPBOT_ANNOTATOR_LOCAL_MODEL"):
        make_annotator(AnnotatorSettings(kind="local"))


def test_captions_that_name_no_concept_are_dropped(coco_set: Path, endpoint: FakeEndpoint, tmp_path: Path) -> None:
    endpoint.script = [(200, "A photo.")] * 20
    ratios = TaskRatios(
        recognition_positive=0, recognition_negative=0, grounding=0, caption=1, description=0, qa=0, qa_text_only=0
    )
    cfg = BuildConfig(seed=2, ratios=ratios)
    summary = DatasetBuilder(cfg, annotator_for(endpoint)).build(
        read_coco(coco_set, None, seed=2, min_crop_px=8), tmp_path / "o"
    )
    assert summary["samples"] == 0
    assert sum("named no concept" in p["reason"] for p in summary["problems"]) == 5  # one per photo
