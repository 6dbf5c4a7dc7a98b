"""The CLIP encoder: the keys stored with every view must be normalised, stable across processes,
and a missing real checkpoint must say how to fetch it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from model.encoder import ClipEncoder
from model.settings import ModelSettings
from model.types import ModelBundle
from model.weights import WeightsMissing

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [Image.fromarray(data.astronaut()), Image.fromarray(data.chelsea()), Image.fromarray(data.coffee())]


@pytest.fixture(scope="module")
def encoder(tiny_models: ModelBundle) -> ClipEncoder:
    assert isinstance(tiny_models.encoder, ClipEncoder)
    return tiny_models.encoder


def test_image_embeddings_are_unit_float32_rows_of_the_encoder_width(
    encoder: ClipEncoder, photos: list[Image.Image]
) -> None:
    vectors = encoder.embed_images(photos)
    assert encoder.encoder_id == "open_clip:rapbot-tiny/random"
    assert vectors.shape == (3, encoder.dim) == (3, 768)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # Different photos get different keys, the same photo the same key.
    assert not np.allclose(vectors[0], vectors[1])
    np.testing.assert_allclose(encoder.embed_images([photos[1]])[0], vectors[1], atol=1e-5)


def test_batching_does_not_change_embeddings(photos: list[Image.Image]) -> None:
    small_batches = ClipEncoder("open_clip:rapbot-tiny/random", ModelSettings(), batch_size=2)
    one_batch = ClipEncoder("open_clip:rapbot-tiny/random", ModelSettings(), batch_size=8)
    np.testing.assert_allclose(small_batches.embed_images(photos), one_batch.embed_images(photos), atol=1e-5)


def test_preprocessing_is_336_resize_and_centre_crop(encoder: ClipEncoder) -> None:
    wide = Image.new("RGB", (900, 300), (200, 10, 10))
    pixels = encoder.loaded.preprocess(wide)
    assert tuple(pixels.shape) == (3, 336, 336)


def test_text_embeddings_are_normalised_and_distinct(encoder: ClipEncoder) -> None:
    vectors = encoder.embed_texts(["a photo of a dog", "a photo of a cat"])
    assert vectors.shape == (2, 768)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(vectors[0], vectors[1])


def test_empty_inputs_give_empty_matrices(encoder: ClipEncoder) -> None:
    assert encoder.embed_images([]).shape == (0, 768)
    assert encoder.embed_texts([]).shape == (0, 768)


def test_grayscale_and_alpha_images_are_accepted(encoder: ClipEncoder) -> None:
    gray = Image.fromarray(data.camera())
    rgba = Image.new("RGBA", (120, 80), (10, 200, 10, 128))
    assert encoder.embed_images([gray, rgba]).shape == (2, 768)


def test_another_process_builds_bit_identical_weights(encoder: ClipEncoder, tmp_path: Path) -> None:
    """A Celery worker in another process must produce the very same keys."""
    image_path = tmp_path / "cat.png"
    Image.fromarray(data.chelsea()).save(image_path)
    out = tmp_path / "vector.npy"
    script = textwrap.dedent(
        f"""
        import numpy as np
        from PIL import Image
        from model.encoder import ClipEncoder
        vector = ClipEncoder("open_clip:rapbot-tiny/random").embed_images([Image.open({str(image_path)!r})])
        np.save({str(out)!r}, vector)
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True, timeout=120)
    here = encoder.embed_images([Image.open(image_path)])
    assert np.array_equal(np.load(out), here)


def test_checkpoint_file_loads_the_saved_weights(tmp_path: Path, photos: list[Image.Image]) -> None:
    """A tag that is a local file loads that checkpoint (here: a tiny net saved with another seed)."""
    import open_clip
    import torch

    from model.tiny import build_seeded, register_tiny_clip_configs

    register_tiny_clip_configs()
    other = build_seeded(lambda: open_clip.create_model("rapbot-tiny", pretrained=None), seed=99)
    checkpoint = tmp_path / "tiny.pt"
    torch.save(other.state_dict(), checkpoint)

    loaded = ClipEncoder(f"open_clip:rapbot-tiny/{checkpoint}", ModelSettings(model_dir=tmp_path))
    random = ClipEncoder("open_clip:rapbot-tiny/random", ModelSettings(model_dir=tmp_path))
    with torch.no_grad():
        expected = other.encode_image(loaded.loaded.preprocess(photos[0]).unsqueeze(0)).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got = loaded.embed_images([photos[0]])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, random.embed_images([photos[0]]), atol=1e-3)


def test_missing_real_weights_offline_name_the_weight_and_the_pull_command(tmp_path: Path) -> None:
    encoder = ClipEncoder("open_clip:ViT-L-14-336/openai", ModelSettings(model_dir=tmp_path, profile="gpu"))
    assert encoder.dim == 768  # known from the config without any weights
    with pytest.raises(WeightsMissing) as caught:
        encoder.embed_images([Image.new("RGB", (64, 64))])
    message = str(caught.value)
    assert "open_clip:ViT-L-14-336/openai" in message
    assert "rapbot models pull gpu" in message
    assert not encoder.is_loaded


@pytest.mark.parametrize("spec", ["ViT-B-32/openai", "open_clip:ViT-B-32", "open_clip:/openai"])
def test_malformed_specs_are_refused_with_the_expected_form(spec: str) -> None:
    with pytest.raises(ValueError, match="open_clip:<model>/<pretrained tag>"):
        ClipEncoder(spec)
