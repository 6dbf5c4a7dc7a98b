"""The console's /gallery: a short-lived sign-in link, signed with the gallery's session secret,
opens the console memory it was typed in (and only that one); a tampered link is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from web_testkit import SECRET, Gallery, jpeg, remember

from bot.console import ConsoleSession, make_requester
from bot.settings import ConsoleSettings


def sign_in_link(reply: str) -> str:
    [line] = [line for line in reply.splitlines() if line.startswith("To sign in, open this link")]
    return line.rsplit(" ", 1)[1]


async def test_console_link_opens_the_console_memory_it_was_made_in(
    gallery: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPBOT_WEB_PUBLIC_URL", gallery.url)
    monkeypatch.setenv("RAPBOT_WEB_SESSION_SECRET", SECRET)
    family = make_requester("ann", "family", True)
    await remember(gallery.client, family, "teapot", "grandma's teapot", jpeg("coffee"))
    await remember(gallery.client, make_requester("ann", None, False), "diary", "ann's own", jpeg("rocket"))

    session = ConsoleSession(gallery.client, family, tmp_path, ConsoleSettings())
    reply = await session.handle_line("/gallery")
    assert reply.startswith(f"This chat's memory as a photo gallery: {gallery.url}/m/gfamily")
    link = sign_in_link(reply)

    with gallery.browser() as http:
        page = http.get(link, follow_redirects=True)
        assert page.status_code == 200 and str(page.url).endswith("/m/gfamily")
        assert "teapot" in page.text and "diary" not in page.text
        assert http.get("/m/gfamily/settings").status_code == 200  # made by a console --admin: a moderator
        assert http.get("/m/gsomeone-else").status_code == 404

    with gallery.browser() as http:
        tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
        refused = http.get(tampered, follow_redirects=True)
        assert refused.status_code == 403 and "not valid" in refused.text
        assert http.get("/m/gfamily", follow_redirects=False).status_code == 303  # still signed out


async def test_console_without_a_session_secret_gives_no_link(
    gallery: Gallery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAPBOT_WEB_SESSION_SECRET", raising=False)
    session = ConsoleSession(gallery.client, make_requester("ann", None, False), tmp_path, ConsoleSettings())
    reply = await session.handle_line("/gallery")
    assert reply.startswith("This chat's memory as a photo gallery: ") and "/auth/console" not in reply  # no link
    assert "RAPBOT_WEB_SESSION_SECRET" in reply, "it says what to set to get one"
