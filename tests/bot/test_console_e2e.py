"""The console end to end: real photos, the tiny model profile and a real Postgres + pgvector,
through the same client `rapbot console` builds. Bad lines get a clear reply and the session goes on."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from bot.console import ConsoleSession, main, make_requester, prompt_lines, run_session
from bot.replies import help_text
from bot.settings import ConsoleSettings
from worker.client import RapClient

REPO = Path(__file__).resolve().parents[2]


def image_paths(reply: str) -> list[Path]:
    return [Path(line.removeprefix("image: ")) for line in reply.splitlines() if line.startswith("image: ")]


async def remember(session: ConsoleSession, line: str) -> str:
    """Send a /remember line; when several objects are found, take the whole photo."""
    reply = await session.handle_line(line)
    if "/choose N" in reply:
        # The candidates photo with numbered boxes was written for the user to look at.
        assert image_paths(reply) and image_paths(reply)[0].is_file()
        reply = await session.handle_line("/choose whole")
    return reply


async def test_a_user_remembers_asks_and_manages_concepts(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("alice", None, False), tmp_path / "out", ConsoleSettings())
    say = session.handle_line

    stored = await remember(session, f"/remember <bo>: an astronaut in a white suit @{photos['astronaut']}")
    assert stored.startswith("remembered <bo> (")
    assert "an astronaut in a white suit [1 photo]" in stored

    answer = await say(f"@{photos['astronaut']} what is <bo> doing?")
    lines = answer.splitlines()
    assert lines[0].strip(), "the generated answer comes first"
    recognised = [line for line in lines if line.startswith("recognised: ")]
    assert len(recognised) == 1
    for path in image_paths(answer):
        assert path.read_bytes()[:2] == b"\xff\xd8"  # an annotated JPEG

    caption = await say(f'@"{photos["spaced"]}"')  # a quoted path with a space: a bare photo is captioned
    assert sum(line.startswith("recognised: ") for line in caption.splitlines()) == 1

    text_only = await say("what does <bo> like?")
    assert text_only.strip() and "recognised:" not in text_only

    listing = await say("/concepts")
    assert listing.splitlines()[0] == "1 remembered (page 1 of 1):"
    assert "<bo>" in listing

    shown = await say("/show bo")
    assert "description: an astronaut in a white suit" in shown and "added by alice" in shown
    assert [p.read_bytes()[:2] for p in image_paths(shown)] == [b"\xff\xd8"]

    assert (await say(f"/addphoto bo @{photos['astronaut']}")).startswith("added a photo to <bo>")
    assert "[2 photos]" in await say("/concepts")

    assert (
        await say("/edit bo: my favourite astronaut") == "updated " + (await say("/concepts")).splitlines()[1].strip()
    )
    assert await say("/rename bo: bobo") == "renamed <bo> to <bobo>"
    assert "<bobo>" in await say("/concepts")

    exported = await say("/export")
    zip_path = Path(exported.rsplit(": ", 1)[1])
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.namelist()

    assert "only in a group" in await say("/audit"), "a private memory has no audit log to read"

    assert await say("/forget bobo") == "forgot <bobo>"
    assert (await say("/concepts")).startswith("I remember nothing here yet")


async def test_bad_lines_get_clear_replies_and_lose_nothing(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("ben", None, False), tmp_path, ConsoleSettings())
    say = session.handle_line
    await remember(session, f"/remember bo: my astronaut @{photos['astronaut']}")

    assert await say(f"@{photos['missing']} what is this?") == f"no such file: {photos['missing']}"
    assert "photo" in (await say(f"@{photos['text']} what is this?")).lower()
    assert "damaged" in (await say(f"@{photos['corrupt']}")).lower()
    assert await say("/frobnicate") == "unknown command /frobnicate; try /help"
    malformed = await say(f"/remember rex a dog @{photos['coffee']}")
    assert "needs a colon" in malformed and "usage: /remember" in malformed
    assert "needs a photo" in await say("/remember rex: a dog")
    unknown = await say("/show rex")
    assert "rex" in unknown and "/concepts" in unknown
    assert "rex" in await say("/forget rex")
    assert "nothing to choose" in await say("/choose 2")
    assert "only in a group" in await say("/lock")
    assert "/forgetme confirm" in await say("/forgetme")

    # None of it changed what was stored.
    listing = await say("/concepts")
    assert listing.splitlines()[0] == "1 remembered (page 1 of 1):" and "<bo>" in listing


async def test_group_moderators_lock_and_members_are_refused(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    moderator = ConsoleSession(console_client, make_requester("mod", "family", True), tmp_path, ConsoleSettings())
    member = ConsoleSession(console_client, make_requester("kid", "family", False), tmp_path, ConsoleSettings())
    outsider = ConsoleSession(console_client, make_requester("kid", None, False), tmp_path, ConsoleSettings())

    assert "locked: yes" in await moderator.handle_line("/lock")
    refused = await remember(member, f"/remember cat: chelsea @{photos['chelsea']}")
    assert "lock" in refused.lower() or "moderator" in refused.lower()
    assert "Ask a moderator" in refused
    assert "nothing here" in await member.handle_line("/concepts")
    assert "locked: yes" in await member.handle_line("/threshold")

    # The member's own memory is separate and still writable.
    assert (await remember(outsider, f"/remember cat: chelsea @{photos['chelsea']}")).startswith("remembered <cat>")
    # Unlocked by the moderator, the member may write to the group.
    assert "locked: no" in await moderator.handle_line("/unlock")
    assert (await remember(member, f"/remember cat: chelsea @{photos['chelsea']}")).startswith("remembered <cat>")
    assert "<cat>" in await moderator.handle_line("/concepts")
    assert "Ask a moderator" in await member.handle_line("/lock")
    audit = await moderator.handle_line("/audit")
    assert "kid  add  <cat>" in audit, audit
    # A moderator removes the member's contributions; the member's own memory is untouched.
    assert await moderator.handle_line("/purge kid") == "removed 1 concept(s) contributed by kid."
    assert "nothing here" in await moderator.handle_line("/concepts")
    assert "<cat>" in await outsider.handle_line("/concepts")


async def test_piped_session_reads_until_eof(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    script = "\n".join(
        [
            "/help",
            f"/remember bo: my astronaut @{photos['astronaut']}",
            "/choose whole",
            "",
            f"@{photos['missing']}",
            f"@{photos['astronaut']} who is this?",
            "/concepts",
        ]
    )
    out = io.StringIO()
    who = make_requester("carol", None, False)
    code = await main(console_client, who, tmp_path, ConsoleSettings(), io.StringIO(script), out)
    assert code == 0
    text = out.getvalue()
    assert_in_order(text, ["Commands:", "remembered <bo>", "no such file", "recognised: <bo> ", "1 remembered", "<bo>"])


def assert_in_order(text: str, fragments: list[str]) -> None:
    position = 0
    for fragment in fragments:
        found = text.find(fragment, position)
        assert found >= 0, f"{fragment!r} missing after position {position} in:\n{text}"
        position = found + len(fragment)


def test_rapbot_console_over_stdin(console_env: str, photos: dict[str, Path], tmp_path: Path) -> None:
    """`rapbot console` as a user runs it, stdin piped: every line answered, exit status 0.
    (Lines that need no network, so this process loads none: the pipeline is covered above.)"""
    script = "\n".join(
        [
            f"@{photos['missing']} what is this?",
            "/frobnicate",
            f"/remember bo my dog @{photos['astronaut']}",
            f"/remember bo: my dog @{photos['text']}",
            "/show rex",
            "/choose 1",
            "/concepts",
            "/quit",
            "/help",
        ]
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAPBOT_CONSOLE_OUT_DIR": str(tmp_path / "out")}
    done = subprocess.run(
        [sys.executable, "-m", "rapbot", "console", "--user", "dora"],
        input=script,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert_in_order(
        done.stdout,
        [
            f"no such file: {photos['missing']}",
            "unknown command /frobnicate; try /help",
            "/remember needs a colon",
            "not a photo",
            "See /concepts for the names I know.",
            "nothing to choose",
            "I remember nothing here yet",
        ],
    )
    assert "Commands:" not in done.stdout, "/quit ends the session"


async def test_interactive_prompt_answers_each_line_and_keeps_history(
    console_client: RapClient, tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("erin", None, False), tmp_path, ConsoleSettings())
    history = tmp_path / "history"
    written: list[str] = []
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("/help forget\r/frobnicate\r/concepts\r/quit\r")
        await run_session(session, prompt_lines("erin", history), written.append)
    assert written == [
        help_text("forget"),
        "unknown command /frobnicate; try /help",
        "I remember nothing here yet. Try /remember bo: my shiba inu with a photo.",
    ]
    assert "/frobnicate" in history.read_text()
