"""Concept photos encoded once (model/feature_cache.py): with the cache the vision tower sees the
query photo alone once a concept's view is cached, and every answer is the one it gets without the
cache (same seed, same text), greedy and sampled, alone and batched."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny_vlms import BO, MAM, QUERY, TOY, photo

from model.feature_cache import FeatureCache
from model.generator import TransformersGenerator, build_generator
from model.settings import ModelSettings
from model.types import Generation, GenerationRequest, view_key

BO_V = dataclasses.replace(BO, view_id=view_key(1, b"bo"))
MAM_V = dataclasses.replace(MAM, view_id=view_key(2, b"mam"))
TOY_V = dataclasses.replace(TOY, view_id=view_key(3, b"toy"))

REQUESTS = [
    GenerationRequest(QUERY, [BO_V], "What is <bo> doing?", max_new_tokens=12, temperature=0),
    GenerationRequest(None, [TOY_V], "What does <toy1> like?", 10, 0.7, seed=3),
    GenerationRequest(photo((10, 200, 30), (30, 90)), [BO_V, MAM_V], "Describe the photo.", 9, 0.2, seed=11),
    GenerationRequest(None, [], "hi", 6, 0),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[TransformersGenerator, TransformersGenerator]:
    model_dir = tmp_path_factory.mktemp("models")
    cached = build_generator("tiny", ModelSettings(model_dir=model_dir, device="cpu", dtype="float32"))
    plain = build_generator("tiny", ModelSettings(model_dir=model_dir, device="cpu", dtype="float32", view_cache_mb=0))
    return cached, plain


def _texts(results: list[Generation | BaseException]) -> list[str]:
    assert all(isinstance(r, Generation) for r in results), results
    return [r.text for r in results if isinstance(r, Generation)]


def test_cached_answers_equal_uncached_alone_and_batched(
    pair: tuple[TransformersGenerator, TransformersGenerator],
) -> None:
    cached, plain = pair
    want = [_texts(plain.generate_batch([r]))[0] for r in REQUESTS]
    # Twice each: the first run fills the cache, the second reads it.
    for _ in range(2):
        assert [_texts(cached.generate_batch([r]))[0] for r in REQUESTS] == want
        assert _texts(cached.generate_batch(REQUESTS)) == want
    assert _texts(plain.generate_batch(REQUESTS)) == want


def test_the_vision_tower_sees_each_stored_view_once(
    pair: tuple[TransformersGenerator, TransformersGenerator],
) -> None:
    cached, plain = pair
    cached.feature_cache.clear()
    before = dataclasses.replace(cached.vision)
    cached.generate_batch([REQUESTS[0]])  # query + bo: both encoded
    cached.generate_batch([REQUESTS[0]])  # query only
    cached.generate_batch([REQUESTS[2]])  # query + mam (bo cached)
    cached.generate_batch([REQUESTS[1]])  # toy: not cached yet
    cached.generate_batch([REQUESTS[1]])  # text only, toy cached: no vision call at all
    assert cached.vision.images - before.images == 2 + 1 + 2 + 1
    assert cached.vision.calls - before.calls == 4
    assert cached.vision.cache_hits - before.cache_hits == 1 + 1 + 1
    assert len(cached.feature_cache) == 3
    plain_before = plain.vision.images
    plain.generate_batch([REQUESTS[2]])
    assert plain.vision.images - plain_before == 3  # without the cache: query + both concepts


def test_a_changed_photo_is_a_new_key_and_never_reuses_old_features(
    pair: tuple[TransformersGenerator, TransformersGenerator],
) -> None:
    cached, plain = pair
    other = dataclasses.replace(BO_V, image=photo((0, 0, 0), (50, 70)), view_id=view_key(1, b"another photo"))
    request = GenerationRequest(QUERY, [other], "What is <bo> doing?", max_new_tokens=12, temperature=0)
    assert _texts(cached.generate_batch([request])) == _texts(plain.generate_batch([request]))
    assert view_key(1, b"a") != view_key(1, b"b")


def test_the_cache_stays_within_its_byte_budget() -> None:
    cache = FeatureCache(3 * 100 * 4)
    for key in range(5):
        cache.put(key, torch.zeros(100))
    assert len(cache) == 3 and cache.bytes == 1200
    assert cache.get(0) is None and cache.get(4) is not None
    cache.get(2)  # recently used: survives the next eviction
    cache.put(5, torch.zeros(100))
    assert cache.get(2) is not None and cache.get(3) is None
    cache.put("huge", torch.zeros(1000))  # over the whole budget: not kept
    assert cache.get("huge") is None
    assert FeatureCache(0).enabled is False
