"""Profiles and the lazy bundle: constructing loads nothing; each profile names its networks; the
overrides a deployer sets win."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.detector import YoloWorldDetector
from model.encoder import ClipEncoder
from model.profiles import LazyGenerator, load_bundle, profile_weights
from model.settings import ModelSettings


def test_constructing_a_bundle_loads_no_network() -> None:
    bundle = load_bundle("gpu", ModelSettings(model_dir=Path("/nonexistent")))
    assert bundle.profile == "gpu"
    assert isinstance(bundle.encoder, ClipEncoder) and not bundle.encoder.is_loaded
    assert isinstance(bundle.detector, YoloWorldDetector) and not bundle.detector.is_loaded
    assert isinstance(bundle.generator, LazyGenerator) and not bundle.generator.is_built
    assert bundle.encoder.encoder_id == "open_clip:ViT-L-14-336/openai"
    assert bundle.encoder.dim == 768
    assert bundle.detector.spec == "yolov8x-worldv2.pt"
    assert bundle.generator.spec == "rap-phi3:Hoar012/RAP-Phi3-mini"


def test_profile_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPBOT_PROFILE", "cpu")
    bundle = load_bundle()
    assert bundle.profile == "cpu"
    assert isinstance(bundle.encoder, ClipEncoder)
    assert bundle.encoder.encoder_id == "open_clip:ViT-B-32/openai"
    assert bundle.encoder.dim == 512


def test_overrides_replace_the_profile_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPBOT_ENCODER", "open_clip:rapbot-tiny/random")
    monkeypatch.setenv("RAPBOT_DETECTOR", "/models/my-world.pt")
    monkeypatch.setenv("RAPBOT_GENERATOR", "hf:/models/my-vlm")
    bundle = load_bundle("gpu")
    assert isinstance(bundle.encoder, ClipEncoder) and isinstance(bundle.detector, YoloWorldDetector)
    assert bundle.encoder.encoder_id == "open_clip:rapbot-tiny/random"
    assert bundle.detector.spec == "/models/my-world.pt"
    assert isinstance(bundle.generator, LazyGenerator) and bundle.generator.spec == "hf:/models/my-vlm"


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Unknown model profile 'large'; choose one of: tiny, cpu, gpu"):
        load_bundle("large")


def test_tiny_bundle_embeds_with_the_tiny_encoder(tiny_models) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    assert tiny_models.profile == "tiny"
    vector = tiny_models.encoder.embed_images([Image.new("RGB", (50, 50), (255, 0, 0))])
    assert vector.shape == (1, 768)
    assert tiny_models.encoder.encoder_id == "open_clip:rapbot-tiny/random"


def test_profile_weights_name_real_sources(tmp_path: Path) -> None:
    settings = ModelSettings(model_dir=tmp_path)
    assert profile_weights("tiny", settings) == []
    cpu = {weight.source: weight for weight in profile_weights("cpu", settings)}
    assert set(cpu) == {
        "timm/vit_base_patch32_clip_224.openai",  # encoder and detector class names share it
        "yolov8s-worldv2.pt",
        "HuggingFaceTB/SmolVLM-256M-Instruct",
    }
    assert cpu["yolov8s-worldv2.pt"].local_path == tmp_path / "ultralytics" / "yolov8s-worldv2.pt"
    assert not any(weight.present for weight in cpu.values())
    gpu = {weight.source for weight in profile_weights("gpu", settings)}
    assert {"timm/vit_large_patch14_clip_336.openai", "yolov8x-worldv2.pt", "Hoar012/RAP-Phi3-mini"} <= gpu


def test_the_cpu_profile_shares_one_vit_b32_between_encoder_and_detector() -> None:
    bundle = load_bundle("cpu")
    assert isinstance(bundle.detector, YoloWorldDetector)
    assert bundle.detector.text_encoder is bundle.encoder
    gpu = load_bundle("gpu")
    assert isinstance(gpu.detector, YoloWorldDetector)
    assert gpu.detector.text_encoder is not gpu.encoder
    assert gpu.detector.text_encoder.encoder_id == "open_clip:ViT-B-32/openai"


def test_settings_come_from_rapbot_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAPBOT_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("RAPBOT_DETECTOR_CONF", "0.25")
    monkeypatch.setenv("RAPBOT_DETECTOR_MAX_BOXES", "5")
    settings = ModelSettings()
    assert settings.model_dir == tmp_path
    assert settings.hf_cache_dir == tmp_path / "hf"
    assert (settings.detector_conf, settings.detector_max_boxes) == (0.25, 5)


def test_bad_settings_are_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("RAPBOT_DETECTOR_CONF", "1.5")
    with pytest.raises(ValidationError, match="detector_conf"):
        ModelSettings()
    monkeypatch.delenv("RAPBOT_DETECTOR_CONF")
    monkeypatch.setenv("RAPBOT_PROFILE", "huge")
    with pytest.raises(ValidationError, match="profile"):
        ModelSettings()
