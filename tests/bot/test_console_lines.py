"""How the console splits a line into text and attached files, and reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.console import LineError, make_requester, read_images, split_attachments


def test_attachments_are_taken_out_of_the_text() -> None:
    message = split_attachments("@park.jpg what is <bo> doing?")
    assert message.text == "what is <bo> doing?"
    assert message.paths == [Path("park.jpg")]


def test_quoted_paths_may_hold_spaces() -> None:
    message = split_attachments("""/remember bo: my dog @"my photos/bo 1.jpg" @'b.png'""")
    assert message.text == "/remember bo: my dog"
    assert message.paths == [Path("my photos/bo 1.jpg"), Path("b.png")]


def test_at_inside_a_word_is_text() -> None:
    message = split_attachments("mail bo@example.com about <bo>")
    assert message.paths == []
    assert message.text == "mail bo@example.com about <bo>"


def test_purge_keeps_its_member_mention() -> None:
    message = split_attachments("/purge @alice")
    assert message.paths == []
    assert message.text == "/purge @alice"


def test_bare_photo_line_has_no_text() -> None:
    assert split_attachments("  @bo.jpg ").text == ""


def test_unreadable_files_are_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(LineError, match=r"no such file: .*missing\.jpg"):
        read_images([tmp_path / "missing.jpg"], 1000)
    with pytest.raises(LineError, match="not a file"):
        read_images([tmp_path], 1000)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(LineError, match="empty"):
        read_images([empty], 1000)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"x" * 2_000_001)
    with pytest.raises(LineError, match="too large"):
        read_images([big], 1_000_000)
    ok = tmp_path / "ok.jpg"
    ok.write_bytes(b"abc")
    assert read_images([ok, ok], 1000) == [b"abc", b"abc"]


def test_group_and_admin_flags_make_the_requester() -> None:
    solo = make_requester("alice", None, False)
    assert (solo.platform, solo.user_id, solo.chat_kind, solo.chat_id) == ("console", "alice", "user", None)
    mod = make_requester("bob", "family", True)
    assert (mod.chat_kind, mod.chat_id, mod.moderator) == ("group", "family", True)


def test_an_empty_quoted_path_is_refused() -> None:
    with pytest.raises(LineError, match="needs a file path"):
        split_attachments('what is this? @""')
