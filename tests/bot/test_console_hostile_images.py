"""Hostile photo shapes at the console (issue 12): a 40000x1 PNG of 200 bytes, its transpose and a
10000x3 strip each get one clear reply naming the shape, store nothing, and the session goes on;
a real-size 36 MP photo is remembered and answered, and every photo the console writes back (the
candidates, the stored crops, the annotated answer) is within the working-copy cap."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.console import ConsoleSession, make_requester
from bot.settings import ConsoleSettings
from worker.client import RapClient

THIN = [(40000, 1), (1, 40000), (10000, 3)]


def image_paths(reply: str) -> list[Path]:
    return [Path(line.removeprefix("image: ")) for line in reply.splitlines() if line.startswith("image: ")]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from skimage import data

    folder = tmp_path_factory.mktemp("hostile")
    paths: dict[str, Path] = {}
    for width, height in THIN:
        path = folder / f"strip{width}x{height}.png"
        Image.new("RGB", (width, height), (200, 30, 30)).save(path)
        paths[f"{width}x{height}"] = path
    big = folder / "astronaut36mp.jpg"
    Image.fromarray(data.astronaut()).resize((7360, 4912), Image.Resampling.BICUBIC).save(big, quality=90)
    paths["36mp"] = big
    return paths


async def test_thin_photos_get_a_clear_reply_and_store_nothing(
    console_client: RapClient, hostile: dict[str, Path], tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("strip", None, False), tmp_path / "out", ConsoleSettings())
    for width, height in THIN:
        path = hostile[f"{width}x{height}"]
        assert path.stat().st_size < 300
        for line in (f"/remember strip: a red strip @{path}", f"@{path} what is this?", f"@{path}"):
            reply = await session.handle_line(line)
            assert f"This photo is {width}x{height} pixels: too long and thin to look at (at most 20:1)." in reply
            assert "Crop it and send it again." in reply
            assert not image_paths(reply)
    assert "nothing" in (await session.handle_line("/concepts")).lower()
    assert (await session.handle_line("what does <strip> like?")).strip()  # the session goes on


async def test_a_36mp_photo_is_remembered_and_answered(
    console_client: RapClient, hostile: dict[str, Path], tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("big", None, False), tmp_path / "out", ConsoleSettings())
    written: list[Path] = []
    reply = await session.handle_line(f"/remember <astro>: an astronaut @{hostile['36mp']}")
    if "/choose N" in reply:
        written += image_paths(reply)
        reply = await session.handle_line("/choose 1")
    assert reply.startswith("remembered <astro> ("), reply
    shown = await session.handle_line("/show astro")
    written += image_paths(shown)
    answer = await session.handle_line(f"@{hostile['36mp']} what is <astro> doing?")
    assert answer.splitlines()[0].strip()
    written += image_paths(answer)
    assert written
    for path in written:
        with Image.open(path) as image:
            assert max(image.size) <= 2048, (path, image.size)
