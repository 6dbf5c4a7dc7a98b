"""Annotated photos: boxes and readable labels drawn on a copy, JPEG bytes that decode."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from model.draw import PALETTE, annotate, place_tags, to_jpeg


def _photo() -> Image.Image:
    return Image.new("RGB", (400, 300), (40, 40, 40))


def test_boxes_are_drawn_in_their_colour_on_a_copy() -> None:
    photo = _photo()
    out = annotate(photo, [(50, 100, 200, 250), (220, 20, 380, 280)], ["1", "2"])
    assert out is not photo and out.size == photo.size
    assert photo.getpixel((50, 175)) == (40, 40, 40)  # the caller's image is untouched
    assert out.getpixel((50, 175)) == PALETTE[0]  # left edge of box 1
    assert out.getpixel((380, 150)) == PALETTE[1]  # right edge of box 2
    assert out.getpixel((120, 175)) == (40, 40, 40)  # inside a box stays clear


def test_label_sits_on_a_filled_tag_above_the_box_with_contrasting_text() -> None:
    out = annotate(_photo(), [(100, 150, 300, 280)], ["bo 0.83"], colors=[(255, 255, 255)])
    tag = out.crop((100, 120, 180, 150))
    colours = {colour for _, colour in tag.getcolors(maxcolors=100000) or []}
    assert (255, 255, 255) in colours  # the tag background
    assert any(isinstance(c, tuple) and sum(c) < 200 for c in colours)  # dark text on the white tag


def test_label_of_a_box_touching_the_top_goes_inside_the_image() -> None:
    out = annotate(_photo(), [(10, 0, 200, 100)], ["top"], colors=[(0, 0, 255)])
    assert out.getpixel((12, 3)) == (0, 0, 255)


def test_boxes_outside_the_image_are_clipped_not_fatal() -> None:
    out = annotate(_photo(), [(-50, -20, 900, 800)], ["all"])
    assert out.size == (400, 300)
    assert out.getpixel((0, 150)) == PALETTE[0]


def test_rgba_and_grayscale_photos_come_back_rgb() -> None:
    for photo in (Image.new("RGBA", (100, 80)), Image.new("L", (100, 80))):
        assert annotate(photo, [(5, 5, 50, 50)], ["1"]).mode == "RGB"


def test_mismatched_boxes_and_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="2 boxes but 1 labels"):
        annotate(_photo(), [(0, 0, 10, 10), (5, 5, 20, 20)], ["1"])
    with pytest.raises(ValueError, match="colors"):
        annotate(_photo(), [(0, 0, 10, 10), (5, 5, 20, 20)], ["1", "2"], colors=[(1, 2, 3)])


def test_no_boxes_gives_the_photo_back_unchanged() -> None:
    photo = _photo()
    assert list(annotate(photo, [], []).getdata()) == list(photo.getdata())


def test_to_jpeg_encodes_a_decodable_jpeg_and_flattens_alpha() -> None:
    blob = to_jpeg(Image.new("RGBA", (64, 48), (255, 0, 0, 128)), quality=80)
    assert blob[:2] == b"\xff\xd8"
    decoded = Image.open(io.BytesIO(blob))
    assert decoded.format == "JPEG" and decoded.size == (64, 48)


def test_numbered_labels_of_boxes_in_the_same_place_do_not_overlap() -> None:
    """Candidates often nest or share a corner (a dog, its head, the dog and its bed): their number
    tags are placed apart, every one inside the image."""
    boxes = [(100.0, 100.0, 300.0, 250.0), (102.0, 101.0, 290.0, 240.0), (100.0, 98.0, 200.0, 200.0)]
    boxes += [(0.0, 0.0, 60.0, 40.0), (3.0, 2.0, 50.0, 30.0), (105.0, 99.0, 120.0, 115.0)]
    tags = place_tags(boxes, [(24.0, 20.0)] * len(boxes), 400, 300)
    for i, a in enumerate(tags):
        assert a[0] >= 0 and a[2] <= 400 and a[1] >= 0 and a[3] <= 300, a
        for b in tags[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    # Drawn: each number's tag keeps its own colour somewhere on the photo.
    out = annotate(_photo(), boxes, [str(i) for i in range(1, 7)])
    colours = {colour for _, colour in out.getcolors(maxcolors=100000) or []}
    assert all(PALETTE[i] in colours for i in range(6))
