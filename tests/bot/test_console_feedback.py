"""/yes and /no in the console: after a photo answer recognises a concept, "no" stops the same
look-alike being called by its name while its own photo still is, "yes" adds the photo to it, and
/show counts both. Real photos, the tiny profile and a real Postgres, through the client
`rapbot console` builds (the tiny CLIP puts every photo above the default threshold)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bot.console import ConsoleSession, make_requester
from bot.grammar import Feedback, format_command, parse
from bot.settings import ConsoleSettings
from worker.client import RapClient


def recognised_line(reply: str) -> str:
    [line] = [line for line in reply.splitlines() if line.startswith("recognised: ")]
    return line


async def test_no_then_yes_teach_the_memory(console_client: RapClient, photos: dict[str, Path], tmp_path: Path) -> None:
    session = ConsoleSession(
        console_client, make_requester("fb-alice", None, False), tmp_path / "out", ConsoleSettings()
    )
    say = session.handle_line
    stored = await say(f"/remember bo: my cat @{photos['chelsea']}")
    if "/choose N" in stored:
        stored = await say("/choose whole")
    assert stored.startswith("remembered <bo>")
    assert (await say("/yes")).startswith("There is nothing to say yes or no to")

    lookalike = await say(f"@{photos['astronaut']}")
    assert "<bo>" in recognised_line(lookalike)
    assert "is that <bo>? /yes or /no teaches me." in lookalike
    assert (await say("/no rex")).startswith("I did not recognise <rex> in the last photo (I saw <bo>)")

    rejected = await say("/no")
    assert rejected.startswith("noted: that is not <bo>") and "(photos: 1, 1 negative)" in rejected
    assert "<bo>" not in recognised_line(await say(f"@{photos['astronaut']} who is this?"))

    mirrored = tmp_path / "chelsea-mirrored.jpg"
    Image.open(photos["chelsea"]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored)
    own = await say(f"@{mirrored}")
    assert "<bo>" in recognised_line(own)
    confirmed = await say("/yes BO")
    assert confirmed.startswith("thanks: I added that photo to <bo>") and "(photos: 2, 1 negative)" in confirmed
    assert "photos: 2, 1 negative" in await say("/show bo")
    assert (await say("/yes")).startswith("There is nothing to say yes or no to")  # answered already

    await say(f"@{photos['astronaut']}")
    await say("what does <bo> like?")  # a later answer without a photo: nothing left to confirm
    assert (await say("/no")).startswith("There is nothing to say yes or no to")


def test_yes_and_no_parse_with_an_optional_name() -> None:
    assert parse("/yes") == Feedback(True)
    assert parse("/no <bo>") == Feedback(False, "bo")
    for command in (Feedback(True, "big dog"), Feedback(False)):
        assert parse(format_command(command)) == command
