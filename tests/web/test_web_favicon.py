"""The browser asks every site for /favicon.ico: the gallery has one, with no sign-in needed."""

from __future__ import annotations

import io

from PIL import Image
from web_testkit import Gallery


def test_the_gallery_has_a_favicon(gallery: Gallery) -> None:
    response = gallery.browser().get("/favicon.ico")
    assert response.status_code == 200 and response.headers["content-type"] == "image/x-icon"
    assert Image.open(io.BytesIO(response.content)).format == "ICO"
