"""The face finder on dlib's REAL pretrained weights (face-recognition-models, installed from the
package registry): the astronaut from skimage.data is found again in edited copies of her photo,
and the people in ultralytics' bundled photos are not taken for her."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from memory.types import FACE_ENCODER_PREFIX
from model.faces import FACE_DIM, FACE_ENCODER_ID, FaceEncoder, similarity_for_distance
from model.profiles import load_bundle
from model.settings import ModelSettings
from model.types import Face

# Where her face is in skimage's 512x512 astronaut photo (x1, y1, x2, y2).
FACE_BOX = (175.0, 76.0, 266.0, 167.0)


def ultralytics_photo(name: str) -> Image.Image:
    import ultralytics

    return Image.open(Path(ultralytics.__file__).parent / "assets" / name).convert("RGB")


@pytest.fixture(scope="module")
def faces() -> FaceEncoder:
    return FaceEncoder(ModelSettings())


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="module")
def her(faces: FaceEncoder, astronaut: Image.Image) -> Face:
    found = faces.find(astronaut)
    assert len(found) == 1, [face.box for face in found]
    return found[0]


def near(box: tuple[float, ...], expected: tuple[float, ...], tolerance: float) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(box, expected, strict=True))


def test_her_face_is_found_where_it_is_with_a_unit_128_d_descriptor(her: Face) -> None:
    assert near(her.box, FACE_BOX, 6)
    assert her.descriptor.shape == (FACE_DIM,) and her.descriptor.dtype == np.float32
    assert abs(float(np.linalg.norm(her.descriptor)) - 1.0) < 1e-5


W, H = 512, 512
EDITS: dict[str, tuple[Callable[[Image.Image], Image.Image], tuple[float, ...]]] = {
    # edit -> where her face must then be
    "mirrored": (ImageOps.mirror, (W - FACE_BOX[2], FACE_BOX[1], W - FACE_BOX[0], FACE_BOX[3])),
    "half size": (lambda im: im.resize((W // 2, H // 2)), tuple(c / 2 for c in FACE_BOX)),
    "1.5x size": (lambda im: im.resize((W * 3 // 2, H * 3 // 2)), tuple(c * 1.5 for c in FACE_BOX)),
    "cropped": (lambda im: im.crop((100, 20, 400, 300)), (75.0, 56.0, 166.0, 147.0)),
    "30% brighter": (lambda im: ImageEnhance.Brightness(im).enhance(1.3), FACE_BOX),
    "30% darker": (lambda im: ImageEnhance.Brightness(im).enhance(0.7), FACE_BOX),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_she_is_recognised_in_an_edited_copy_of_her_photo(
    faces: FaceEncoder, astronaut: Image.Image, her: Face, edit: str
) -> None:
    transform, expected_box = EDITS[edit]
    found = faces.find(transform(astronaut))

    assert len(found) == 1
    assert float(found[0].descriptor @ her.descriptor) >= faces.similarity_threshold
    assert near(found[0].box, expected_box, 12)


@pytest.mark.parametrize("photo", ["zidane.jpg", "bus.jpg"])
def test_the_people_in_other_photos_are_not_taken_for_her(faces: FaceEncoder, her: Face, photo: str) -> None:
    found = faces.find(ultralytics_photo(photo))

    assert found, "these photos show people facing the camera"
    assert all(float(face.descriptor @ her.descriptor) < faces.similarity_threshold for face in found)
    assert [face.area for face in found] == sorted((face.area for face in found), reverse=True)


def test_photos_without_people_show_no_face(faces: FaceEncoder) -> None:
    from skimage import data

    assert faces.find(Image.fromarray(data.chelsea())) == []
    assert faces.find(Image.fromarray(data.coffee())) == []
    assert faces.find(Image.new("RGB", (8, 8))) == []  # too small to hold a face


def test_dlib_same_person_distance_becomes_the_cosine_threshold() -> None:
    # Two descriptors of norm 1.43 that lie 0.6 apart (dlib's same-person cut) have cosine ~0.912.
    a = np.zeros(FACE_DIM)
    a[0] = 1.43
    angle = 2 * np.arcsin(0.6 / (2 * 1.43))
    b = np.zeros(FACE_DIM)
    b[0], b[1] = 1.43 * np.cos(angle), 1.43 * np.sin(angle)
    assert abs(np.linalg.norm(a - b) - 0.6) < 1e-9
    assert abs(similarity_for_distance(0.6) - float(a @ b) / 1.43**2) < 1e-9
    assert FaceEncoder(ModelSettings(face_max_distance=0.5)).similarity_threshold > similarity_for_distance(0.6)


def test_every_profile_has_faces_unless_turned_off() -> None:
    assert FACE_ENCODER_ID.startswith(FACE_ENCODER_PREFIX)  # memory/ tells face views apart by it
    bundle = load_bundle("tiny")
    assert bundle.faces is not None and bundle.faces.encoder_id == FACE_ENCODER_ID
    assert load_bundle("tiny", ModelSettings(faces=False)).faces is None
