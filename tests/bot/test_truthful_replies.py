"""Replies that say what happened: a context rule comes before an argument error, a name nobody has
is said, and what a /yes or /no learned is named with the counts that changed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from bot import replies
from bot.console import ConsoleSession, make_requester
from bot.dispatch import GROUP_ONLY, GROUP_ONLY_NAMES, PRIVATE_ONLY, PRIVATE_ONLY_NAMES
from bot.grammar import USAGE
from worker.client import RapClient
from worker.domain.mentions import unknown_names
from worker.schemas import AnswerResult, ConceptSummary


def session(group: str | None, tmp_path: Path, client: RapClient | None = None) -> ConsoleSession:
    return ConsoleSession(client or cast(RapClient, object()), make_requester("ann", group, False), tmp_path)


@pytest.mark.parametrize("line", ["/threshold 1.5", "/threshold abc", "/autocaption maybe", "/audit 999", "/purge"])
async def test_a_group_setting_in_a_private_chat_says_so_before_judging_its_argument(line: str, tmp_path: Path) -> None:
    command = line.split()[0].removeprefix("/")
    assert await session(None, tmp_path).handle_line(line) == f"/{command} works only in a group chat."


async def test_in_a_group_the_argument_error_is_said(tmp_path: Path) -> None:
    assert "must be between 0 and 1" in await session("family", tmp_path).handle_line("/threshold 1.5")
    assert await session("family", tmp_path).handle_line("/forgetme now") == (
        "/forgetme works only in a private chat with me, to keep your data private."
    )


def test_the_context_rules_by_name_are_the_dispatchers_rules() -> None:
    from bot.grammar import ParseError, parse

    commands = {}
    for name in USAGE:
        for text in (f"/{name}", f"/{name} bo", f"/{name} on", f"/{name} 1"):
            try:
                commands[name] = parse(text)
                break
            except ParseError:
                continue
    assert {name for name, cmd in commands.items() if isinstance(cmd, GROUP_ONLY)} == GROUP_ONLY_NAMES
    assert {name for name, cmd in commands.items() if isinstance(cmd, PRIVATE_ONLY)} == PRIVATE_ONLY_NAMES


def test_unknown_bracketed_names_are_found_once_each_as_typed() -> None:
    assert unknown_names("what does <Nobody> like, and <bo>? <NOBODY>!", ["bo"]) == ["Nobody"]
    assert unknown_names("<bo> and <Bo>", ["BO"]) == []
    assert unknown_names("no brackets here", []) == []


def test_an_answer_names_the_names_nobody_has() -> None:
    text = replies.answer(AnswerResult(text="I do not know.", unknown=["nobody"]), with_photo=False)
    assert text.splitlines() == ["I do not know.", "I know nothing called <nobody> here (/concepts lists what I know)."]


def test_a_yes_on_a_photo_and_on_a_face_say_what_was_added() -> None:
    now = datetime.now(UTC)
    bo = ConceptSummary(
        name="bo", description="", category="person", created_by="ann", view_count=1, created_at=now, updated_at=now
    )
    assert replies.feedback_done(bo, True) == "thanks: I added that photo to <bo> (photos: 1)."
    face = bo.model_copy(update={"face_count": 2})
    assert replies.feedback_done(face, True) == "thanks: I added that face to <bo> (2 faces; photos: 1)."
    rejected = bo.model_copy(update={"face_count": 1, "negative_count": 1})
    assert replies.feedback_done(rejected, False) == (
        "noted: that face is not <bo>, and I will not call it <bo> again (kept as a negative face; "
        "photos: 1, 1 negative; 1 face)."
    )


async def test_a_question_about_a_name_nobody_has_says_so(console_client: RapClient, tmp_path: Path) -> None:
    reply = await session(None, tmp_path, console_client).handle_line("what does <nobody> like?")
    assert "I know nothing called <nobody> here" in reply, reply
