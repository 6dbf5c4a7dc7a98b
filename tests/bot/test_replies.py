"""Shared reply rendering: what a user reads on every platform."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot import replies
from bot.grammar import USAGE, ParseError, parse
from worker.errors import NO_PENDING, RapError
from worker.schemas import (
    AnswerResult,
    AuditItem,
    Candidate,
    ConceptDetail,
    ConceptPage,
    ConceptSummary,
    ErasureSummary,
    GroupSettings,
    Recognised,
    RememberResult,
)

NOW = datetime(2026, 11, 22, 3, 10, tzinfo=UTC)


def summary(name: str = "bo", views: int = 1, description: str = "my shiba inu") -> ConceptSummary:
    return ConceptSummary(
        name=name,
        description=description,
        category="dog",
        created_by="alice",
        view_count=views,
        created_at=NOW,
        updated_at=NOW,
    )


def test_help_lists_every_command_with_an_example() -> None:
    text = replies.help_text()
    for usage in USAGE.values():
        if usage.startswith("/help") or usage.startswith("/start"):
            continue
        assert usage in text


def test_help_for_one_command_gives_its_usage() -> None:
    assert replies.help_text("remember").endswith("usage: " + USAGE["remember"])
    assert replies.help_text("/forget").endswith("usage: /forget bo")
    assert replies.help_text("nonsense") == replies.help_text()


def test_recognised_line() -> None:
    seen = [
        Recognised(name="bo", similarity=0.912, box=(0, 0, 1, 1)),
        Recognised(name="dug", similarity=0.84, box=None),
    ]
    assert replies.recognised_line(seen) == "recognised: <bo> 0.91, <dug> 0.84"
    assert replies.recognised_line([]) == "recognised: none"
    named = [Recognised(name="bo", similarity=None, box=None)]
    assert replies.recognised_line(named) == "recognised: <bo> (named)"


def test_answer_to_a_photo_ends_with_the_recognised_line() -> None:
    result = AnswerResult(text="<bo> is sleeping.", recognised=[Recognised(name="bo", similarity=0.9, box=None)])
    assert replies.answer(result, with_photo=True) == "<bo> is sleeping.\nrecognised: <bo> 0.90"
    assert replies.answer(result, with_photo=False) == "<bo> is sleeping."
    empty = AnswerResult(text="  ")
    assert replies.answer(empty, with_photo=True) == "(no answer)\nrecognised: none"


def test_remember_results() -> None:
    stored = RememberResult(status="stored", concept=summary())
    assert replies.remember_result(stored) == "remembered <bo> (dog): my shiba inu [1 photo]"
    candidates = RememberResult(
        status="candidates",
        pending_id="p1",
        candidates=[
            Candidate(index=1, box=(0, 0, 5, 5), label="dog", score=0.8),
            Candidate(index=2, box=(5, 5, 9, 9), label="person", score=0.55),
        ],
    )
    text = replies.remember_result(candidates)
    assert "1. dog (0.80)" in text and "2. person (0.55)" in text
    assert "/choose N" in text and "/choose cancel" in text
    assert "nothing was stored" in replies.remember_result(RememberResult(status="cancelled"))
    album = RememberResult(status="stored", concept=summary(views=3), views_added=3)
    assert "3 photos stored" in replies.remember_result(album)


def test_concept_pages() -> None:
    assert "nothing" in replies.concept_page(ConceptPage(items=[], total=0, offset=0, limit=10))
    first = replies.concept_page(ConceptPage(items=[summary("bo"), summary("dug")], total=12, offset=0, limit=10))
    assert first.splitlines()[0] == "12 remembered (page 1 of 2):"
    assert "<dug> (dog)" in first and first.endswith("next: /concepts 2")
    last = replies.concept_page(ConceptPage(items=[summary("zed")], total=12, offset=10, limit=10))
    assert "page 2 of 2" in last and "next:" not in last
    beyond = replies.concept_page(ConceptPage(items=[], total=12, offset=90, limit=10))
    assert beyond == "no such page: there are 2 page(s)."


def test_concept_detail_names_who_and_when() -> None:
    text = replies.concept_detail(ConceptDetail(concept=summary(views=2), images=[b"a", b"b"]))
    assert "<bo>" in text and "photos: 2" in text
    assert "added by alice on 2026-11-22 03:10 UTC" in text


def test_audit_lines_show_who_what_when() -> None:
    items = [
        AuditItem(at=NOW, actor="alice", action="add", concept="bo"),
        AuditItem(
            at=NOW.astimezone(timezone(timedelta(hours=2))),
            actor=None,
            action="rename",
            concept="dug",
            details={"old": "doug"},
        ),
    ]
    lines = replies.audit_lines(items).splitlines()
    assert lines[0] == "2026-11-22 03:10 UTC  alice  add  <bo>"
    assert lines[1] == "2026-11-22 03:10 UTC  (erased user)  rename  <dug>  (old=doug)"
    assert replies.audit_lines([]) == "no changes recorded yet."


def test_settings_and_erasure() -> None:
    text = replies.settings(GroupSettings(locked=True, similarity_threshold=0.7, auto_caption=False))
    assert text == "locked: yes\nthreshold: 0.70\nautocaption: off"
    erased = replies.erasure(ErasureSummary(concepts_deleted=2, views_deleted=5, scopes_deleted=1))
    assert erased == "erased: 2 concept(s), 5 photo(s), 1 memory scope(s)."
    assert "/forgetme confirm" in replies.forgetme_confirm()


def test_errors_use_the_workers_message_with_a_hint() -> None:
    assert replies.error(RapError("unknown_concept", "I don't know <rex>.")) == (
        "I don't know <rex>.\nSee /concepts for the names I know."
    )
    assert "/remember again" in replies.error(RapError(NO_PENDING, "That choice expired."))
    assert replies.error(RapError("bad_image", "That file is not an image.")) == "That file is not an image."


def test_unexpected_error_reveals_nothing() -> None:
    assert "token" not in replies.unexpected_error().lower()
    assert "nothing was changed" in replies.unexpected_error()


def test_parse_error_reply_is_the_parse_message() -> None:
    with pytest.raises(ParseError) as caught:
        parse("/remember bo")
    assert replies.parse_error(caught.value).startswith("/remember needs a colon")
    assert replies.parse_error(caught.value).endswith("usage: " + USAGE["remember"])


def test_command_summaries_name_real_commands() -> None:
    # Frontends register these as command menus: a name the grammar does not know would be a dead entry.
    names = [name for name, _ in replies.COMMAND_SUMMARIES]
    assert set(names) <= set(USAGE)
    assert set(USAGE) - set(names) == {"help", "start"}
