"""A grounding answer's boxes are drawn on the photo with their concept's name, and a recognition
answer carries its yes/no: through the parser and drawer, and through the pipeline on the tiny
random-weight models (whose text is noise: the test checks the pipeline reads whatever it wrote)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from model.answers import yes_no
from worker.domain.grounding import UNNAMED, boxes_to_draw, grounded_in_photo
from worker.domain.pipeline import _annotate
from worker.schemas import Grounded, Recognised, Requester
from worker.transport.local import LocalClient


def test_the_answers_box_in_pixels_replaces_the_retrieval_box_of_that_concept() -> None:
    grounded = grounded_in_photo("<bo> is at [0.50, 0.25, 1.00, 0.75].", "Where is <bo>?", ["bo", "mochi"], (200, 100))
    assert grounded == [Grounded(name="bo", box=(100.0, 25.0, 200.0, 75.0))]
    recognised = [
        Recognised(name="bo", similarity=0.9, box=(0, 0, 10, 10)),
        Recognised(name="mochi", similarity=0.8, box=(20, 20, 40, 40)),
        Recognised(name="cup", similarity=None, box=None),
    ]
    boxes, labels = boxes_to_draw(recognised, grounded)
    assert (boxes, labels) == ([(100.0, 25.0, 200.0, 75.0), (20, 20, 40, 40)], ["bo", "mochi"])
    # A box the answer gives for no known concept is still drawn, unnamed.
    unnamed = grounded_in_photo("[0.1, 0.1, 0.2, 0.2]", "Where are <bo> and <mochi>?", ["bo", "mochi"], (100, 100))
    assert boxes_to_draw([], unnamed)[1] == [UNNAMED]


def test_a_grounded_box_is_drawn_where_the_answer_puts_it() -> None:
    photo = Image.new("RGB", (200, 100), (0, 0, 0))
    grounded = grounded_in_photo(
        "[0.50, 0.20, 0.90, 0.80]", "Give <bo>'s bounding box in the image.", ["bo"], (200, 100)
    )
    drawn = np.asarray(Image.open(io.BytesIO(_annotate(photo, *boxes_to_draw([], grounded)))))
    lit = np.argwhere(drawn.max(axis=2) > 60)  # the outline and its tag on a black photo
    assert lit[:, 1].min() >= 95 and lit[:, 1].max() <= 185  # inside x 100..180 (JPEG blur aside)
    assert drawn[50, 20].max() < 60  # the left half is untouched


async def test_the_pipeline_reads_boxes_and_yes_no_from_what_the_model_wrote(
    client: LocalClient, alice: Requester, photos: dict[str, bytes]
) -> None:
    await client.update_settings(alice, similarity_threshold=0.0)
    stored = await client.remember(alice, "mochi", "my cat", [photos["cat"]])
    if stored.status == "candidates":
        assert stored.pending_id
        await client.choose(alice, stored.pending_id, "whole")
    size = Image.open(io.BytesIO(photos["cat"])).size

    for question in ("Give <mochi>'s bounding box in the image.", "Is <mochi> in this image?"):
        result = await client.answer(alice, photos["cat"], question)
        names = [r.name for r in result.recognised]
        assert "mochi" in names
        assert result.grounded == grounded_in_photo(result.text, question, names, size)
        assert result.yes_no is yes_no(result.text, question)
        assert result.annotated_image is not None  # mochi's box, from retrieval or from the answer
        assert Image.open(io.BytesIO(result.annotated_image)).size == size

    text_only = await client.answer(alice, None, "Give <mochi>'s bounding box in the image.")
    assert text_only.grounded == [] and text_only.annotated_image is None
