"""The console end to end on awkward input: numbers out of range, over-long lines, a byte order
mark and bytes that are not UTF-8 in a piped script, `@handles` in descriptions, and /addphoto
with more photos than the concept can take (a real client, the tiny profile, a real Postgres)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot.console import ConsoleSession, main, make_requester
from bot.settings import ConsoleSettings
from worker.client import RapClient

REPO = Path(__file__).resolve().parents[2]
MAX_VIEWS = 3


@pytest.fixture(scope="module")
def console_env(console_env: str) -> Iterator[str]:
    """The shared module database, with at most 3 photos per concept (to fill one quickly)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAPBOT_MAX_VIEWS_PER_CONCEPT", str(MAX_VIEWS))
        yield console_env


async def remember(session: ConsoleSession, line: str) -> str:
    reply = await session.handle_line(line)
    if "/choose N" in reply:
        reply = await session.handle_line("/choose whole")
    return reply


async def test_numbers_and_lengths_out_of_range_get_clear_replies(console_client: RapClient, tmp_path: Path) -> None:
    session = ConsoleSession(console_client, make_requester("nina", None, False), tmp_path, ConsoleSettings())
    say = session.handle_line
    assert "page numbers go up to 100,000" in await say("/concepts 99999999999999999999")
    assert "there is no object number" in await say("/choose 99999999999999999999")
    too_long = await say("x" * 100_000)
    assert "too long: 100,000 characters" in too_long and len(too_long) < 300
    long_name = await say("what is <" + "n" * 100_000 + "> doing?")
    assert "too long" in long_name and "(no answer)" not in long_name
    assert "a name can have at most 64" in await say("/show " + "n" * 100)
    assert (await say("/concepts")).startswith("I remember nothing here yet")


async def test_a_handle_in_a_description_is_kept_as_text(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no file named bo_shiba here
    session = ConsoleSession(console_client, make_requester("olga", None, False), tmp_path, ConsoleSettings())
    stored = await remember(session, f"/remember c: follows @bo_shiba @{photos['chelsea']}")
    assert stored.startswith("remembered <c>") and "follows @bo_shiba [1 photo]" in stored, stored
    assert await session.handle_line("/remember d: a dog @bo_shiba") == "no such file: bo_shiba"


async def test_addphoto_says_which_photos_were_added_and_which_were_not(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("pia", None, False), tmp_path, ConsoleSettings())
    assert (await remember(session, f"/remember kitty: my cat @{photos['chelsea']}")).startswith("remembered <kitty>")
    # Distinct photos (the very same photo twice is refused as already there, see test_local_pipeline).
    for name in ("chelsea", "coffee"):
        Image.open(photos[name]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / f"{name}-flip.jpg")
        Image.open(photos[name]).transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(tmp_path / f"{name}-down.jpg")
        photos = {
            **photos,
            f"{name}-flip": tmp_path / f"{name}-flip.jpg",
            f"{name}-down": tmp_path / f"{name}-down.jpg",
        }
    names = ("coffee", "corrupt", "astronaut", "chelsea-flip", "coffee-flip")
    files = " ".join(f"@{photos[name]}" for name in names)
    reply = await session.handle_line(f"/addphoto kitty {files}")
    lines = reply.splitlines()
    assert lines[0].startswith("added 2 of 5 photos to <kitty>") and f"[{MAX_VIEWS} photos]" in lines[0], reply
    assert lines[1].startswith("photo 2 not added:") and "damaged" in lines[1], reply
    assert lines[2].startswith("photo 4 not added:") and f"already has {MAX_VIEWS} photos" in lines[2], reply
    assert lines[3] == "not tried: photo 5 (photo 4's refusal holds for them too).", reply
    assert f"[{MAX_VIEWS} photos]" in await session.handle_line("/concepts")
    # Nothing more fits: none of them is added, and the reply says why.
    full = await session.handle_line(f"/addphoto kitty @{photos['coffee-down']} @{photos['chelsea-down']}")
    assert full.startswith("none of the 2 photos was added to <kitty>.") and "photo 1 not added:" in full, full
    assert "not tried: photo 2 " in full, full
    assert f"already has {MAX_VIEWS} photos" in await session.handle_line(f"/addphoto kitty @{photos['coffee-down']}")


async def test_an_album_with_a_photo_already_there_still_tries_the_photos_after_it(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("quin", None, False), tmp_path, ConsoleSettings())
    assert (await remember(session, f"/remember mug: my cup @{photos['chelsea']}")).startswith("remembered <mug>")
    assert (await session.handle_line(f"/addphoto mug @{photos['coffee']}")).startswith("added a photo to <mug>")
    # Photo 1 is there already: a refusal about that photo only, so photo 2 is still tried and added.
    reply = await session.handle_line(f"/addphoto mug @{photos['coffee']} @{photos['astronaut']}")
    lines = reply.splitlines()
    assert lines[0].startswith("added 1 of 2 photos to <mug>") and "[3 photos]" in lines[0], reply
    assert lines[1].startswith("photo 1 not added: <mug> already has this photo"), reply
    assert "not tried" not in reply and "photos 1 to" not in reply, reply


async def test_a_piped_script_with_a_bom_and_bad_bytes(console_client: RapClient, tmp_path: Path) -> None:
    script = b"\xef\xbb\xbf/concepts\n/remember bo: caf\xe9 @nothing.jpg\n/help forget\n"
    out = io.StringIO()
    who = make_requester("quinn", None, False)
    stdin = io.TextIOWrapper(io.BytesIO(script), encoding="utf-8")
    assert await main(console_client, who, tmp_path, ConsoleSettings(), stdin, out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("I remember nothing here yet"), "the BOM did not make /concepts a question"
    assert lines[1].startswith("that line is not valid UTF-8 text") and "caf\ufffd" in lines[1]
    assert "/forget" in out.getvalue(), "the session went on after the bad line"


def test_rapbot_console_with_a_malformed_url_says_which_setting(console_env: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RAPBOT_DATABASE_URL": "postgresql+psycopg://rapbot:s3cret@127.0.0.1:abc/rapbot",
    }
    done = subprocess.run(
        [sys.executable, "-m", "rapbot", "console", "--user", "rita"],
        input="/concepts\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=240,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "rapbot console: RAPBOT_DATABASE_URL has a malformed port: it must be a number from 1 to 65535."
    )
    assert "s3cret" not in done.stderr + done.stdout
