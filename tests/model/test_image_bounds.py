"""model/ defends itself against hostile image shapes, whoever calls it (the worker, training,
evaluation): CLIP's preprocessing, LLaVA's pad-to-square, the chat processors and the drawing all
start from an image within model.bounds, so a 40000x1 strip costs what a small photo costs.

Measured on what the real networks' preprocessing receives and produces (spies that record and
delegate; no model output is faked)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from skimage import data
from tiny_vlms import build_tiny_idefics3, build_tiny_qwen2_vl

import model.generator as generator_module
from model.bounds import MAX_ASPECT, MAX_SIDE, bounded, fit_within, letterbox_aspect, within_bounds
from model.draw import annotate, to_jpeg
from model.encoder import ClipEncoder
from model.generator import RapLlavaGenerator, build_generator, chat_messages, pad_to_square
from model.prompt import CAPTION_QUESTION
from model.settings import ModelSettings
from model.types import ConceptRef, ModelBundle

HOSTILE = [(40000, 1), (1, 40000), (10000, 3), (10000, 1), (3, 10000)]
FILL = (122, 116, 104)


def strip(size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size, (200, 30, 30))


@pytest.mark.parametrize("size", HOSTILE)
def test_bounded_images_fit_the_side_and_the_aspect(size: tuple[int, int]) -> None:
    out = bounded(strip(size))
    assert max(out.size) <= MAX_SIDE
    assert max(out.size) / min(out.size) <= MAX_ASPECT
    assert within_bounds(out.size)
    # The strip is centred on the canvas, its colour intact.
    assert out.getpixel((out.width // 2, out.height // 2)) == (200, 30, 30)


def test_photos_within_bounds_pass_untouched() -> None:
    photo = Image.fromarray(data.astronaut())
    assert bounded(photo) is photo and fit_within(photo) is photo and letterbox_aspect(photo) is photo
    big = photo.resize((4000, 3000))
    assert fit_within(big).size == (2048, 1536)
    assert letterbox_aspect(strip((300, 10)), 20).size == (300, 15)


@pytest.mark.parametrize("size", HOSTILE)
def test_pad_to_square_is_bounded(size: tuple[int, int]) -> None:
    square = pad_to_square(strip(size), FILL)
    assert square.size == (MAX_SIDE, MAX_SIDE)  # never 40000x40000 (4.8 GB)
    assert pad_to_square(Image.fromarray(data.astronaut()), FILL).size == (512, 512)  # small ones as before
    assert pad_to_square(strip((600, 300)), FILL, max_side=100).size == (100, 100)


@pytest.fixture
def encoder(tiny_models: ModelBundle) -> ClipEncoder:
    assert isinstance(tiny_models.encoder, ClipEncoder)
    return tiny_models.encoder


def test_clip_preprocessing_never_sees_more_than_the_bound(
    encoder: ClipEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = encoder.loaded
    real = loaded.preprocess
    seen: list[tuple[tuple[int, int], tuple[int, ...]]] = []

    def spy(image: Image.Image) -> Any:
        tensor = real(image)
        seen.append((image.size, tuple(tensor.shape)))
        return tensor

    monkeypatch.setattr(loaded, "preprocess", spy)
    normal = Image.fromarray(data.astronaut())
    started = time.monotonic()
    vectors = encoder.embed_images([strip(size) for size in HOSTILE] + [normal])
    assert time.monotonic() - started < 30  # unbounded, 40000x1 alone took over a minute
    assert vectors.shape == (len(HOSTILE) + 1, encoder.dim)
    for size, shape in seen:
        assert within_bounds(size), size
        assert shape == seen[-1][1]  # the same input tensor for every shape
    assert seen[-1][0] == normal.size  # a normal photo reaches CLIP as it is


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ModelSettings:
    return ModelSettings(model_dir=tmp_path_factory.mktemp("models"), device="cpu", dtype="float32")


def test_rap_generator_answers_hostile_shapes_on_bounded_squares(
    settings: ModelSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = build_generator("tiny", settings)
    assert isinstance(tiny, RapLlavaGenerator)
    squares: list[tuple[int, int]] = []

    def spy(image: Image.Image, fill: tuple[int, int, int], max_side: int = MAX_SIDE) -> Image.Image:
        out = pad_to_square(image, fill, max_side)
        squares.append(out.size)
        return out

    monkeypatch.setattr(generator_module, "pad_to_square", spy)
    concepts = [ConceptRef("a", "a strip", strip((1, 40000)), score=0.9), ConceptRef("b", "b", strip((10000, 3)))]
    result = tiny.generate(strip((40000, 1)), concepts, CAPTION_QUESTION, max_new_tokens=3, temperature=0)
    assert result.used == ["a", "b"]
    assert squares and all(max(size) <= MAX_SIDE for size in squares)
    pixels = tiny.prepare(strip((40000, 1)), concepts, CAPTION_QUESTION).inputs["pixel_values"]
    assert tuple(pixels.shape[1:]) == (3, 56, 56)


def test_chat_messages_images_are_bounded() -> None:
    concepts = [
        ConceptRef("a", "a strip", strip((1, 40000)), box=(0.0, 0.0, 40000.0, 1.0), score=0.9),
        ConceptRef("b", "b", strip((10000, 3)), score=0.5),
    ]
    for query in (strip((40000, 1)), strip((5000, 4000))):
        _, images = chat_messages(query, concepts, "what is it?")
        assert len(images) == 3
        assert all(within_bounds(image.size) for image in images), [image.size for image in images]


@pytest.mark.parametrize("builder", [build_tiny_idefics3, build_tiny_qwen2_vl])
def test_chat_template_generators_answer_hostile_shapes(builder: Any, tmp_path: Path, settings: ModelSettings) -> None:
    # Qwen2-VL's own processor refuses shapes over 200:1; Idefics3 tiles by the long side.
    generator = build_generator(f"hf:{builder(tmp_path / 'vlm')}", settings)
    concepts = [ConceptRef("bo", "a strip", strip((1, 40000)), box=(0.0, 0.0, 40000.0, 1.0), score=0.9)]
    result = generator.generate(strip((40000, 1)), concepts, "what is <bo>?", max_new_tokens=3, temperature=0)
    assert result.used == ["bo"]


def test_annotations_are_bounded_and_boxes_follow() -> None:
    photo = Image.new("RGB", (8000, 4000), (0, 0, 0))
    out = annotate(photo, [(4000.0, 2000.0, 8000.0, 4000.0)], [""], colors=[(255, 0, 0)])
    assert out.size == (2048, 1024)
    assert out.getpixel((1024, 800)) == (255, 0, 0)  # the box's left edge, scaled with the photo
    assert annotate(photo, [], [], max_side=None).size == photo.size
    thin = annotate(strip((40000, 1)), [(0.0, 0.0, 100.0, 1.0)], ["bo 0.9"])
    assert thin.size == (2048, 1)
    assert to_jpeg(thin)[:2] == b"\xff\xd8"
