"""Input limits of the shared grammar (text lengths, numbers) and how the console reads a line
(`@` tokens, a byte order mark, bytes that are not UTF-8), without the worker."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.console import LineError, clean_line, plain_lines, split_attachments
from bot.grammar import (
    MAX_CHOICE,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_PAGE,
    MAX_QUESTION_CHARS,
    Choose,
    ListConcepts,
    ParseError,
    Question,
    Threshold,
    TooLong,
    parse,
)

HUGE = "9" * 20  # 99999999999999999999: beyond a 64-bit integer


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (f"/concepts {HUGE}", f"page numbers go up to {MAX_PAGE:,}"),
        (f"/concepts {MAX_PAGE + 1}", f"page numbers go up to {MAX_PAGE:,}"),
        ("/concepts " + "9" * 5000, "too long"),  # int() itself would refuse 4,300+ digits
        ("/concepts " + "9" * 3000, "page numbers go up to"),
        (f"/choose {HUGE}", "there is no object number 99999999999999999999"),
        (f"/choose {MAX_CHOICE + 1}", "there is no object number"),
        ("/threshold 1e999", "between 0 and 1"),
        ("/threshold " + "1" * 500, "between 0 and 1"),
        ("/threshold -0.5", "between 0 and 1"),
    ],
)
def test_numbers_out_of_range_are_refused_with_a_clear_reply(text: str, fragment: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert fragment in caught.value.message
    assert len(caught.value.message) < 300, "the reply never echoes a huge input"


def test_numbers_in_range_still_parse() -> None:
    assert parse(f"/concepts {MAX_PAGE}") == ListConcepts(MAX_PAGE)
    assert parse("/concepts 007") == ListConcepts(7)
    assert parse(f"/choose {MAX_CHOICE}") == Choose(MAX_CHOICE)
    assert parse("/threshold 0.12345678901234567890123") == Threshold(0.12345678901234568)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x" * 100_000, f"I read at most {MAX_MESSAGE_CHARS:,}"),
        ("what is " + "a" * MAX_QUESTION_CHARS + "?", f"that question is too long: {MAX_QUESTION_CHARS + 9:,}"),
        ("/remember <" + "n" * 100_000 + ">: my dog", "that message is too long: 100,020 characters"),
        ("/remember " + "n" * (MAX_NAME_CHARS + 1) + ": my dog", f"a name can have at most {MAX_NAME_CHARS}"),
        ("/show " + "n" * 200, "a name can have at most 64 characters (this one has 200)"),
        ("/rename bo: " + "n" * 65, "a name can have at most 64"),
        ("/remember bo: " + "d" * 2001, "a description can have at most 2000 characters (this one has 2001)"),
        ("/edit bo: " + "d" * 3000, "a description can have at most 2000"),
        ("/category bo: " + "c" * 65, "a category can have at most 64"),
        ("/purge " + "m" * 65, "a member id can have at most 64"),
    ],
)
def test_over_long_input_is_refused_with_the_limit(text: str, fragment: str) -> None:
    with pytest.raises(TooLong) as caught:
        parse(text)
    assert fragment in caught.value.message
    assert len(caught.value.message) < 300


def test_a_byte_order_mark_does_not_turn_a_command_into_a_question() -> None:
    assert parse("\ufeff/concepts 2") == ListConcepts(2)
    assert parse("\ufeffhello") == Question("hello")


# ---------------------------------------------------------------- @ tokens in the console


def test_a_handle_in_a_description_is_text_and_the_last_token_is_the_file(tmp_path: Path) -> None:
    message = split_attachments("/remember c: follows @bo_shiba @photo.jpg")
    assert message.text == "/remember c: follows @bo_shiba"
    assert message.paths == [Path("photo.jpg")]
    # A bare @word as the last token is a file (and gets "no such file" when missing).
    assert split_attachments("/addphoto bo @snapshot").paths == [Path("snapshot")]


def test_an_at_token_is_a_file_when_it_exists_looks_like_one_or_is_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "snapshot").write_bytes(b"x")
    message = split_attachments("""@snapshot @typo.JPG @dir/bo @"odd name" @'x' what is @alice doing?""")
    assert message.paths == [Path("snapshot"), Path("typo.JPG"), Path("dir/bo"), Path("odd name"), Path("x")]
    assert message.text == "what is @alice doing?"


def test_a_byte_order_mark_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    assert clean_line("\ufeff/concepts") == "/concepts"
    bad = b"/remember bo: caf\xe9 au lait".decode("utf-8", "surrogateescape")
    with pytest.raises(LineError) as caught:
        clean_line(bad)
    assert "not valid UTF-8" in str(caught.value) and "caf\ufffd au lait" in str(caught.value)
    with pytest.raises(LineError):
        clean_line("lone \ud800 surrogate")  # not from surrogateescape: replaced all the same


async def test_piped_bytes_are_read_as_utf8_lines_whatever_the_locale() -> None:
    raw = b"\xef\xbb\xbf/concepts\r\ncaf\xe9\n\xff\xfe\n"
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="ascii", errors="strict")
    lines = [line async for line in plain_lines(stream)]
    assert lines[0] == "\ufeff/concepts"
    assert [clean_line(lines[0])] == ["/concepts"]
    for line in lines[1:]:
        with pytest.raises(LineError):
            clean_line(line)
