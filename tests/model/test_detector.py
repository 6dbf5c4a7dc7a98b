"""YOLO-World with open_clip class features: well-formed boxes, a head that follows the class list,
and no network access ever."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from model.detector import YoloWorldDetector
from model.settings import ModelSettings
from model.tiny import TINY_DETECTOR_SPEC, TINY_DETECTOR_TEXT_SPEC
from model.types import Detection, ModelBundle
from model.weights import WeightsMissing

CLASSES = ["person", "cup", "cat", "rocket"]


@pytest.fixture(scope="module")
def detector(tiny_models: ModelBundle) -> YoloWorldDetector:
    assert isinstance(tiny_models.detector, YoloWorldDetector)
    return tiny_models.detector


def _assert_well_formed(detections: list[Detection], image: Image.Image, classes: list[str], conf: float) -> None:
    width, height = image.size
    for detection in detections:
        x1, y1, x2, y2 = detection.box
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert detection.label in classes
        assert conf <= detection.score <= 1.0
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_boxes_on_real_photos_are_inside_the_image_labelled_and_sorted(detector: YoloWorldDetector, name: str) -> None:
    image = Image.fromarray(getattr(data, name)())
    detections = detector.detect(image, CLASSES, conf=0.1, max_boxes=20)
    assert len(detections) <= 20
    _assert_well_formed(detections, image, CLASSES, 0.1)


def test_the_tiny_detector_finds_boxes_that_depend_on_the_photo(detector: YoloWorldDetector) -> None:
    # Random weights, but calibrated: some photos give boxes, not all give the same ones.
    found = {name: detector.detect(Image.fromarray(getattr(data, name)()), CLASSES) for name in ("astronaut", "coffee")}
    assert all(found.values())
    assert found["astronaut"][0].box != found["coffee"][0].box


def test_max_boxes_and_conf_are_respected(detector: YoloWorldDetector) -> None:
    image = Image.fromarray(data.astronaut())
    assert len(detector.detect(image, CLASSES, conf=0.01, max_boxes=3)) <= 3
    strict = detector.detect(image, CLASSES, conf=0.999)
    assert all(d.score >= 0.999 for d in strict)


def test_same_photo_same_detections(detector: YoloWorldDetector) -> None:
    image = Image.fromarray(data.coffee())
    assert detector.detect(image, CLASSES) == detector.detect(image, CLASSES)


def test_changing_classes_changes_the_head(detector: YoloWorldDetector) -> None:
    image = Image.fromarray(data.coffee())
    detector.detect(image, ["cup", "spoon"])
    world = detector.loaded.yolo.model
    assert world.model[-1].nc == 2
    assert tuple(world.txt_feats.shape) == (1, 2, 512)
    np.testing.assert_allclose(world.txt_feats[0].cpu().numpy(), detector.class_features(["cup", "spoon"]), atol=1e-6)

    detections = detector.detect(image, ["person", "dog", "plate"], conf=0.01)
    assert world.model[-1].nc == 3
    assert tuple(world.txt_feats.shape) == (1, 3, 512)
    assert world.names == {0: "person", 1: "dog", 2: "plate"}
    assert {d.label for d in detections} <= {"person", "dog", "plate"}


def test_class_features_are_normalised_512d_and_cached(detector: YoloWorldDetector) -> None:
    features = detector.class_features(["dog", "cat"])
    assert features.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)
    assert detector.class_features(["dog", "cat"]) is features


def test_no_classes_means_no_detections(detector: YoloWorldDetector) -> None:
    assert detector.detect(Image.fromarray(data.coffee()), []) == []
    assert detector.detect(Image.fromarray(data.coffee()), ["  ", ""]) == []


def test_small_grayscale_and_alpha_images(detector: YoloWorldDetector) -> None:
    for image in (Image.fromarray(data.camera()), Image.new("RGBA", (40, 30), (200, 0, 0, 100))):
        _assert_well_formed(detector.detect(image, CLASSES, conf=0.01), image, CLASSES, 0.01)


def test_loading_and_detecting_never_touch_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = YoloWorldDetector(TINY_DETECTOR_SPEC, ModelSettings(profile="tiny"), text_spec=TINY_DETECTOR_TEXT_SPEC)
    image = Image.fromarray(data.astronaut())
    _assert_well_formed(fresh.detect(image, ["person", "flag"]), image, ["person", "flag"], 0.1)


def test_missing_detector_weights_offline_name_them_and_the_pull_command(tmp_path: Path) -> None:
    settings = ModelSettings(model_dir=tmp_path, profile="gpu")
    detector = YoloWorldDetector("yolov8x-worldv2.pt", settings, text_spec=TINY_DETECTOR_TEXT_SPEC)
    with pytest.raises(WeightsMissing) as caught:
        detector.detect(Image.new("RGB", (64, 64)), ["dog"])
    assert "yolov8x-worldv2.pt" in str(caught.value)
    assert "rapbot models pull gpu" in str(caught.value)


def test_weights_in_the_model_dir_are_used(tmp_path: Path) -> None:
    """A YOLO-World .pt in RAPBOT_MODEL_DIR/ultralytics loads offline (here: a random net saved)."""
    import torch

    from model.tiny import build_random_yolo_world

    built = build_random_yolo_world()
    target = tmp_path / "ultralytics" / "yolov8s-worldv2.pt"
    target.parent.mkdir(parents=True)
    torch.save({"model": built.model, "train_args": {}}, target)
    detector = YoloWorldDetector(
        "yolov8s-worldv2.pt", ModelSettings(model_dir=tmp_path), text_spec=TINY_DETECTOR_TEXT_SPEC
    )
    image = Image.fromarray(data.coffee())
    _assert_well_formed(detector.detect(image, CLASSES), image, CLASSES, 0.1)
    assert detector.loaded.yolo.model.model[-1].nc == len(CLASSES)


def test_class_features_drive_the_scores(detector: YoloWorldDetector) -> None:
    """After the first prediction (when ultralytics fuses the network) new class features still count."""
    image = Image.fromarray(data.coffee())
    cups = detector.detect(image, ["cup"], conf=0.001, max_boxes=5)
    people = detector.detect(image, ["person"], conf=0.001, max_boxes=5)
    assert cups and people
    assert [d.score for d in cups] != [d.score for d in people]
    assert detector.detect(image, ["cup"], conf=0.001, max_boxes=5) == cups


def test_conf_and_max_boxes_default_to_the_settings(
    detector: YoloWorldDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = Image.fromarray(data.astronaut())
    monkeypatch.setattr(detector, "settings", ModelSettings(detector_conf=0.3, detector_max_boxes=2))
    detections = detector.detect(image, CLASSES)
    assert 0 < len(detections) <= 2
    assert all(d.score >= 0.3 for d in detections)


def test_switching_class_lists_keeps_the_predictor_and_every_cpu_core(detector: YoloWorldDetector) -> None:
    """Each chat has its own categories. Setting up a new ultralytics predictor per class list cost
    ~0.1 s a photo and capped torch at cores - 1 threads (on 2 cores: every network on one)."""
    import os

    import torch

    photo = Image.fromarray(data.chelsea())
    first = detector.detect(photo, ["cat", "dog"])
    predictor = detector.loaded.yolo.predictor
    detector.detect(photo, ["cup"])
    again = detector.detect(photo, ["cat", "dog"])
    assert detector.loaded.yolo.predictor is predictor
    assert [(d.box, d.label, d.score) for d in again] == [(d.box, d.label, d.score) for d in first]
    if "OMP_NUM_THREADS" not in os.environ:
        assert torch.get_num_threads() == (os.cpu_count() or 1)
