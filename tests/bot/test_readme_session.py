"""README's first console session, line by line against the code that prints it. The sample is on
the `cpu` profile and marked illustrative (the photos are the reader's, so the boxes, scores and
generated sentences are theirs too); every line that is NOT generated text is checked here: the
welcome lines, the prompt (the user's name), the remembered line, the recognised line, the /yes
hint, the image line and the tiny profile's question."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from bot import console, replies
from bot.console import make_requester
from bot.settings import ConsoleSettings
from worker.client import RapClient
from worker.schemas import ConceptSummary, Recognised, RememberResult

README = Path(__file__).resolve().parents[2] / "README.md"


def session_block() -> list[str]:
    text = README.read_text()
    start = text.index("A first session on the `cpu` profile")
    lines = text[start:].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("    $ "))
    block = []
    for line in lines[first:]:
        if not line.startswith("    "):
            break
        block.append(line[4:])
    return block


def test_the_sample_is_marked_illustrative_and_names_the_profile() -> None:
    text = README.read_text()
    assert "A first session on the `cpu` profile (illustrative:" in text
    assert "`you>`" not in text and "\n    you> " not in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_the_welcome_lines_and_the_prompt_are_what_the_console_prints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    block = session_block()
    user = re.search(r"--user (\S+)", block[0])
    assert block[0].startswith("$ scripts/rapbot console") and user is not None
    labels: list[str] = []

    async def no_lines(label: str, _history: Any) -> AsyncIterator[str]:
        labels.append(label)
        return
        yield  # an async generator that ends at once

    monkeypatch.setattr(console, "prompt_lines", no_lines)
    out = _Tty()
    out_dir = Path(block[2].removeprefix("images are written to "))
    await console.main(
        cast(RapClient, object()), make_requester(user.group(1), None, False), out_dir, ConsoleSettings(), _Tty(), out
    )
    assert out.getvalue().splitlines() == block[1:3]
    prompts = [line for line in block if re.match(r"^[\w@.-]+> ", line)]
    assert prompts and all(line.startswith(f"{labels[0]}> ") for line in prompts), (labels, prompts)


def test_the_printed_lines_are_the_replies_the_console_gives() -> None:
    block = session_block()
    now = datetime.now(UTC)
    bo = ConceptSummary(
        name="bo",
        description="my shiba inu, loves chicken",
        category="dog",
        created_by="alice",
        view_count=1,
        created_at=now,
        updated_at=now,
    )
    assert replies.remember_result(RememberResult(status="stored", concept=bo)) in block
    assert replies.recognised_line([Recognised(name="bo", similarity=0.91, box=(0, 0, 1, 1))]) in block
    assert replies.feedback_hint(["bo"]) in block
    image = next(line for line in block if line.startswith("image: "))
    assert re.fullmatch(r"image: /tmp/rapbot-console-\w+/\d{8}-\d{6}-\d{3}-rapbot-answer\.jpg", image), image


def test_the_tiny_question_quoted_in_the_readme_is_the_one_asked() -> None:
    asked = replies.candidates(RememberResult(status="candidates", pending_id="p"), buttons=False, name="bo")
    quoted = re.search(
        r"`(I see several things in this\s+photo for <bo>\. Which one did you mean\?)`", README.read_text()
    )
    assert quoted is not None and " ".join(quoted.group(1).split()) == asked.splitlines()[0]
