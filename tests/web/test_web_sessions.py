"""Sessions that can end, on the server: sign-out ends that session even for a copy of its cookie,
"sign out everywhere" and /forgetme end every session of the user, a console sign-in link works
once, Telegram sign-in data older than an hour is refused, a sign-in needs the nonce its own page
gave the browser (no login CSRF), and the bot's allow-list closes every door of the gallery."""

from __future__ import annotations

import asyncio
import time

import httpx
from web_testkit import ALICE, BOB, SECRET, TOKEN, Gallery, init_data, widget_params

from worker.schemas import Requester

STRANGER = 777  # a Telegram user with nothing stored and no group


def signed_in(http: httpx.Client) -> bool:
    response = http.get("/m/me")
    assert response.status_code in (200, 303), response.status_code
    return response.status_code == 200


def copy_of(gallery: Gallery, http: httpx.Client) -> httpx.Client:
    """Another client (another device, or a thief) holding the same cookie."""
    other = gallery.browser()
    other.cookies.update(http.cookies)
    return other


def test_sign_out_ends_the_session_for_every_copy_of_its_cookie(gallery: Gallery) -> None:
    http = gallery.sign_in(ALICE)
    stolen = copy_of(gallery, http)
    assert signed_in(stolen)
    assert http.post("/logout", data={"csrf_token": gallery.csrf(http)}).status_code == 303
    assert not signed_in(stolen)  # the old cookie opens nothing from another client
    assert not signed_in(http)


def test_sign_out_everywhere_ends_every_session_of_the_user_only(gallery: Gallery) -> None:
    phone, laptop, bobs = gallery.sign_in(ALICE), gallery.sign_in(ALICE), gallery.sign_in(BOB)
    assert signed_in(phone) and signed_in(laptop)
    done = phone.post("/logout/everywhere", data={"csrf_token": gallery.csrf(phone)})
    assert done.status_code == 303
    assert not signed_in(phone) and not signed_in(laptop)
    assert signed_in(bobs)  # another user's session is not touched


def test_forgetme_in_the_chat_ends_every_gallery_session(gallery: Gallery) -> None:
    http = gallery.sign_in(STRANGER)
    assert signed_in(http)
    asyncio.run(gallery.client.erase(Requester(platform="telegram", user_id=str(STRANGER))))
    assert not signed_in(http)


def test_a_console_sign_in_link_works_once(gallery: Gallery) -> None:
    from bot.web.console_signin import sign_in_link
    from bot.web.settings import WebSettings

    who = Requester(platform="console", user_id="once-user")
    link = sign_in_link(WebSettings(public_url=gallery.url, session_secret=SECRET), who)
    assert link is not None
    with gallery.browser() as first:
        assert first.get(link, follow_redirects=True).status_code == 200
        assert signed_in(first)
    with gallery.browser() as second:
        again = second.get(link)
        assert again.status_code == 403 and "already used" in again.text
        assert not signed_in(second)


def test_telegram_sign_in_data_older_than_an_hour_is_refused(gallery: Gallery) -> None:
    now = int(time.time())
    old = gallery.post_init_data(gallery.browser(), init_data(ALICE, auth_date=now - 2 * 3600))
    assert old.status_code == 403 and "expired" in old.json()["error"]
    fresh = gallery.post_init_data(gallery.browser(), init_data(ALICE, auth_date=now - 1800))
    assert fresh.status_code == 200


def test_a_sign_in_needs_the_nonce_its_own_page_gave(gallery: Gallery) -> None:
    """Another site cannot sign a visitor's browser in as someone else (login CSRF): the Mini App
    post and the Login Widget's redirect must carry the nonce of a page this browser opened."""
    victim = gallery.browser()
    bare = victim.post("/auth/telegram/webapp", data={"init_data": init_data(BOB)})
    assert bare.status_code == 403 and not signed_in(victim)
    attacker = gallery.browser()
    attackers_nonce = gallery.nonce(attacker)
    gallery.nonce(victim)  # the victim opened the page too, and holds its own nonce
    forged = victim.post("/auth/telegram/webapp", data={"init_data": init_data(BOB), "nonce": attackers_nonce})
    assert forged.status_code == 403 and not signed_in(victim)
    widget = victim.get("/auth/telegram/widget", params=widget_params(BOB))
    assert widget.status_code == 403 and not signed_in(victim)
    assert gallery.widget_sign_in(victim, widget_params(BOB)).status_code == 303 and signed_in(victim)


def test_the_bots_allow_list_applies_to_sign_ins_and_open_sessions(gallery: Gallery) -> None:
    bobs_open_session = gallery.sign_in(BOB)
    state = gallery.app.state.web
    before = state.may_use
    from bot.telegram_bot.settings import TelegramSettings
    from bot.web.server import allow_list

    state.may_use = allow_list(TelegramSettings(token=TOKEN, allowed_users=str(ALICE)))
    try:
        assert not signed_in(bobs_open_session)  # a session opened before is closed too
        mini_app = gallery.post_init_data(gallery.browser(), init_data(BOB))
        assert mini_app.status_code == 403 and "allow-list" in mini_app.json()["error"]
        browser = gallery.browser()
        widget = gallery.widget_sign_in(browser, widget_params(BOB))
        assert (
            widget.status_code == 403 and "allow-list" in widget.text and "text/html" in widget.headers["content-type"]
        )
        assert "set-cookie" not in widget.headers or not signed_in(browser)
        assert signed_in(gallery.sign_in(ALICE))
    finally:
        state.may_use = before


def test_allow_list_lets_owners_and_other_platforms_in() -> None:
    from bot.telegram_bot.settings import TelegramSettings
    from bot.web.identity import SignedInUser
    from bot.web.server import allow_list

    may_use = allow_list(TelegramSettings(token=TOKEN, allowed_users="1,2", owner_ids="9"))
    assert may_use(SignedInUser("telegram", "2", "x")) and may_use(SignedInUser("telegram", "9", "owner"))
    assert not may_use(SignedInUser("telegram", "3", "x"))
    assert may_use(SignedInUser("discord", "3", "x")) and may_use(SignedInUser("console", "ann", "ann"))
    assert allow_list(TelegramSettings(token=TOKEN))(SignedInUser("telegram", "3", "x"))  # no list: everyone
