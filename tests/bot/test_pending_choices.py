"""Several remembers waiting for a choice in one chat: none vanishes, every "which one?" names its
concept, `/choose N` is for the one asked about last, `/choose bo N` for bo's, and an expired one
says so. The dispatcher against a small fake client (the worker's side is tested in tests/worker);
then the console with the real tiny pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bot.console import ConsoleSession, make_requester
from bot.dispatch import CandidateButtons, Context, HeldChoice, Surface, Waiting, dispatch
from bot.grammar import parse
from bot.settings import ConsoleSettings
from worker.client import RapClient
from worker.errors import NO_PENDING, RapError
from worker.schemas import Candidate, ConceptSummary, RememberResult, Requester

WHO = Requester(platform="console", user_id="ann")


class PendingClient:
    """remember() always asks which of two boxes; choose() stores the pending name."""

    def __init__(self) -> None:
        self.pending: dict[str, str] = {}  # pending id -> name

    async def remember(self, who: Requester, name: str, description: str, images: list[bytes], **_: Any) -> Any:
        pending_id = f"p{len(self.pending) + 1}"
        self.pending[pending_id] = name
        boxes = [Candidate(index=i, box=(0.0, 0.0, 9.0, 9.0), label="dog", score=0.5) for i in (1, 2)]
        return RememberResult(status="candidates", pending_id=pending_id, candidates=boxes)

    async def choose(self, who: Requester, pending_id: str, choice: Any) -> RememberResult:
        name = self.pending.pop(pending_id, None)
        if name is None:
            raise RapError(NO_PENDING, "There is no photo waiting for your choice (it may have expired).")
        if choice == "cancel":
            return RememberResult(status="cancelled")
        now = datetime.now(UTC)
        concept = ConceptSummary(
            name=name, category="dog", description="", view_count=1, created_by="ann", created_at=now, updated_at=now
        )
        return RememberResult(status="stored", concept=concept, views_added=1)


async def say(text: str, ctx: Context) -> str:
    return (await dispatch(parse(text), ctx)).text


def context(client: PendingClient, surface: Surface | None = None) -> Context:
    async def photo() -> list[bytes]:
        return [b"jpeg"]

    return Context(WHO, cast(RapClient, client), photo, surface=surface or Surface())


async def test_a_second_remember_keeps_the_first_waiting_and_each_question_names_its_concept() -> None:
    client = PendingClient()
    ctx = context(client)
    first = await say("/remember bo: my dog", ctx)
    assert "this photo for <bo>. Which one did you mean?" in first and "also waiting" not in first, first
    second = await say("/remember rex: a dog", ctx)
    assert "this photo for <rex>" in second, second
    assert "also waiting for your choice: <bo>; /choose bo N picks for <bo>." in second, second
    # /choose N: the one asked about last (rex); bo still waits, and the reply says so.
    chose = await say("/choose 2", ctx)
    assert chose.startswith("remembered <rex> (dog)"), chose
    assert "also waiting for your choice: <bo>" in chose, chose
    # /choose NAME N: that one.
    assert (await say("/choose bo 1", ctx)).startswith("remembered <bo> (dog)")
    assert "nothing to choose" in await say("/choose 1", ctx)


async def test_choosing_for_a_name_that_does_not_wait_names_the_ones_that_do() -> None:
    ctx = context(PendingClient())
    await say("/remember bo: my dog", ctx)
    reply = await dispatch(parse("/choose zed 1"), ctx)
    assert reply.refused and reply.text == "No photo of <zed> is waiting for your choice (waiting: <bo>).", reply.text
    assert (await say("/choose BO cancel", ctx)) == "cancelled: nothing was stored for <bo>."


async def test_an_expired_choice_says_so_and_names_its_concept() -> None:
    ctx = context(PendingClient(), Surface())
    ctx.pending.keep([Waiting("bo", "long-gone"), Waiting("rex", "also-gone")])
    reply = await dispatch(parse("/choose bo 1"), ctx)
    assert reply.refused
    assert reply.text.startswith("The photo for <bo> waited too long for your choice and has expired"), reply.text
    assert "/remember bo:" in reply.text and "also waiting for your choice: <rex>" in reply.text, reply.text
    assert [w.name for w in ctx.pending.waiting()] == ["rex"]


async def test_buttons_name_their_concept_and_a_button_choice_drops_only_its_own() -> None:
    client = PendingClient()
    ctx = context(client, Surface(buttons=True, typed_commands=False))
    await dispatch(parse("/remember bo: my dog"), ctx)
    asked = await dispatch(parse("/remember rex: a dog"), ctx)
    assert isinstance(asked.buttons, CandidateButtons) and asked.buttons.name == "rex"
    assert "press a number under its photo" in asked.text, asked.text
    # The button under bo's photo (as a frontend builds it from the button's pending id).
    pressed = await dispatch(
        parse("/choose 1"), Context(WHO, cast(RapClient, client), pending=HeldChoice.of("p1", "bo"))
    )
    assert pressed.text.startswith("remembered <bo>"), pressed.text


async def test_a_piped_list_of_remembers_keeps_every_one(
    console_client: RapClient, photos: dict[str, Path], tmp_path: Path
) -> None:
    session = ConsoleSession(console_client, make_requester("piper", None, False), tmp_path, ConsoleSettings())
    asked = []
    for name, photo in (("cup", "coffee"), ("cat", "chelsea"), ("suit", "astronaut")):
        reply = await session.handle_line(f"/remember {name}: mine @{photos[photo]}")
        if "/choose N" in reply:
            assert f"this photo for <{name}>" in reply, reply
            asked.append(name)
        else:
            assert reply.startswith(f"remembered <{name}>"), reply
    for name in asked:
        assert (await session.handle_line(f"/choose {name} whole")).startswith(f"remembered <{name}>")
    listing = await session.handle_line("/concepts")
    assert all(f"<{name}>" in listing for name in ("cup", "cat", "suit")), listing
