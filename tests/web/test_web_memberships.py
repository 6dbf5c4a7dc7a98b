"""Membership lookups at sign-in: Telegram is asked only about the groups the user was seen in
(not every group memory the store knows), a user seen asking in a new group finds it in the
gallery, a Discord refresh that fails leaves the groups out (a log line, never a 500), and reading
a memory's settings creates no memory."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from web_testkit import ALICE, BOB, GUILD_MEMBER, Gallery, discord_account

from worker.schemas import Requester

STRANGERS_GROUPS = [-5000 - i for i in range(12)]
NEW_GROUP = -4242


def test_a_telegram_sign_in_asks_only_about_groups_the_user_was_seen_in(gallery: Gallery) -> None:
    async def others_groups() -> None:
        for chat in STRANGERS_GROUPS:  # group memories alice never was in
            who = Requester(platform="telegram", user_id="999", chat_kind="group", chat_id=str(chat))
            await gallery.client.list_concepts(who)

    asyncio.run(others_groups())
    before = len(gallery.platforms.telegram_calls)
    gallery.sign_in(ALICE)
    asked = gallery.platforms.telegram_calls[before:]
    assert asked.count("getChatMember") == 1  # the club, where alice asked; none of the 12 others


def test_a_member_seen_in_a_new_group_finds_it_in_the_gallery(gallery: Gallery) -> None:
    who = Requester(platform="telegram", user_id=str(BOB), chat_kind="group", chat_id=str(NEW_GROUP))
    asyncio.run(gallery.client.list_concepts(who))  # bob asks something in the new group
    gallery.platforms.chat_members[(NEW_GROUP, BOB)] = "member"
    gallery.platforms.chat_titles[NEW_GROUP] = "Brand New Group"
    assert "Brand New Group" in gallery.sign_in(BOB).get("/").text


def test_reading_a_memorys_settings_creates_no_memory(gallery: Gallery) -> None:
    who = Requester(platform="telegram", user_id=str(BOB), chat_kind="group", chat_id="-31337")
    settings = asyncio.run(gallery.client.get_settings(who))
    assert not settings.locked
    assert asyncio.run(gallery.client.group_chats(who, ["-31337"])) == []


def test_a_failed_discord_refresh_leaves_the_groups_out_without_an_error(
    gallery: Gallery, caplog: pytest.LogCaptureFixture
) -> None:
    http = gallery.browser()
    state = httpx.URL(http.get("/auth/discord").headers["location"]).params["state"]
    gallery.platforms.discord_codes["code-refresh"] = discord_account()
    assert http.get("/auth/discord/callback", params={"code": "code-refresh", "state": state}).status_code == 303
    assert "Dave&#39;s Hangout" in http.get("/").text
    memberships = gallery.app.state.web.memberships
    memberships._known.clear()  # the TTL ran out
    gallery.platforms._tokens.clear()  # and Discord revoked the token
    with caplog.at_level(logging.WARNING, logger="bot.web.memberships"):
        page = http.get("/")
    assert page.status_code == 200 and "Dave&#39;s Hangout" not in page.text
    assert http.get(f"/m/g{GUILD_MEMBER}").status_code == 404  # not confirmed: not shown, not opened
    assert any("Discord guild refresh failed" in r.getMessage() for r in caplog.records)


def test_discord_answers_that_are_not_json_are_a_refused_sign_in() -> None:
    from bot.web.discord_oauth import _json
    from bot.web.identity import SignInRefused

    with pytest.raises(SignInRefused):
        _json(httpx.Response(502, content=b"<html>Bad gateway</html>"))
