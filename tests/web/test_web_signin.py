"""Signing in to the gallery through real HTTP: Telegram Mini App initData (valid, tampered,
expired), the Telegram Login Widget, Discord OAuth2 against a fake Discord on loopback, the
session cookie's flags, CSRF on writes, and sign-out."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from web_testkit import (
    ALICE,
    BOB,
    CLIENT_ID,
    GUILD_MEMBER,
    GUILD_MOD,
    Gallery,
    discord_account,
    init_data,
    widget_params,
)


def signed_in_page(http: httpx.Client) -> str:
    response = http.get("/")
    assert response.status_code == 200, response.status_code
    return response.text


def test_mini_app_sign_in_shows_own_memory_and_groups(gallery: Gallery) -> None:
    http = gallery.browser()
    assert http.get("/").status_code == 303  # not signed in: to /login
    response = gallery.post_init_data(http, init_data(ALICE))
    assert response.status_code == 200 and response.json()["next"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = signed_in_page(http)
    assert "My memory" in page and "Shiba Club" in page and "moderator" in page
    assert "Carol&#39;s Secret Group" not in page and "Carol's Secret Group" not in page
    assert "bo" in http.get("/m/me").text


def test_tampered_init_data_is_refused(gallery: Gallery) -> None:
    http = gallery.browser()
    genuine = init_data(BOB, first_name="Bob")
    # Claim to be alice with bob's signature: the hash no longer matches.
    forged = genuine.replace(f"%22id%22%3A{BOB}", f"%22id%22%3A{ALICE}")
    assert forged != genuine
    response = gallery.post_init_data(http, forged)
    assert response.status_code == 403
    assert "not valid" in response.json()["error"]
    assert http.get("/").status_code == 303
    assert http.get("/m/me").status_code == 303


def test_init_data_signed_with_another_token_is_refused(gallery: Gallery) -> None:
    import web_testkit

    original = web_testkit.TOKEN
    web_testkit.TOKEN = "7000001:another-bots-token"
    try:
        other = init_data(ALICE)
    finally:
        web_testkit.TOKEN = original
    assert gallery.post_init_data(gallery.browser(), other).status_code == 403


def test_expired_init_data_is_refused(gallery: Gallery) -> None:
    http = gallery.browser()
    two_days_ago = int(time.time()) - 2 * 24 * 3600
    response = gallery.post_init_data(http, init_data(ALICE, auth_date=two_days_ago))
    assert response.status_code == 403
    assert "expired" in response.json()["error"]
    assert http.get("/").status_code == 303


def test_sign_in_from_another_site_is_refused(gallery: Gallery) -> None:
    response = gallery.post_init_data(gallery.browser(), init_data(ALICE), headers={"origin": "https://evil.example"})
    assert response.status_code == 403


def test_login_widget(gallery: Gallery) -> None:
    http = gallery.browser()
    response = gallery.widget_sign_in(http, widget_params(BOB))
    assert response.status_code == 303 and response.headers["location"] == "/"
    page = signed_in_page(http)
    assert "Shiba Club" in page and "moderator" not in page  # bob is a plain member
    # The widget's key is SHA256(token), not the Mini App's: data signed with the wrong key fails.
    import hashlib
    import hmac

    webapp_key = hmac.new(b"WebAppData", b"x", hashlib.sha256).digest()
    refused = gallery.widget_sign_in(gallery.browser(), widget_params(BOB, key=webapp_key))
    assert refused.status_code == 403


def test_discord_oauth(gallery: Gallery) -> None:
    http = gallery.browser()
    start = http.get("/auth/discord")
    assert start.status_code == 303
    target = urlsplit(start.headers["location"])
    query = parse_qs(target.query)
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == ["identify guilds"]
    assert query["redirect_uri"] == [f"{gallery.url}/auth/discord/callback"]
    gallery.platforms.discord_codes["code-1"] = discord_account()
    done = http.get("/auth/discord/callback", params={"code": "code-1", "state": query["state"][0]})
    assert done.status_code == 303, done.text
    page = signed_in_page(http)
    assert "Dave" in page and "Dave&#39;s Hangout" in page and "Mod Guild" in page
    assert "No Memory Here" not in page  # a guild with no memory is not listed
    assert "guildpet" in http.get(f"/m/g{GUILD_MEMBER}").text
    member_settings = http.get(f"/m/g{GUILD_MEMBER}/settings")  # no Manage Server there: read only
    assert member_settings.status_code == 200 and "Save settings" not in member_settings.text
    assert http.get(f"/m/g{GUILD_MEMBER}/audit").status_code == 403
    assert "Save settings" in http.get(f"/m/g{GUILD_MOD}/settings").text
    assert http.get("/m/g903").status_code == 404  # a guild dave is not in


def test_discord_callback_needs_its_state_and_a_good_code(gallery: Gallery) -> None:
    http = gallery.browser()
    http.get("/auth/discord")
    gallery.platforms.discord_codes["code-2"] = discord_account()
    assert http.get("/auth/discord/callback", params={"code": "code-2", "state": "forged"}).status_code == 403
    state = parse_qs(urlsplit(http.get("/auth/discord").headers["location"]).query)["state"][0]
    refused = http.get("/auth/discord/callback", params={"code": "not-issued", "state": state})
    assert refused.status_code == 403
    assert http.get("/").status_code == 303


def test_writes_need_the_csrf_token(gallery: Gallery) -> None:
    http = gallery.sign_in(BOB)
    form = {"name": "rex", "new_name": "rexy"}
    assert http.post("/m/me/rename", data=form).status_code == 403
    assert http.post("/m/me/rename", data={**form, "csrf_token": "guessed"}).status_code == 403
    other = gallery.sign_in(ALICE)  # another session's token is not this one's
    assert http.post("/m/me/rename", data={**form, "csrf_token": gallery.csrf(other)}).status_code == 403
    assert http.post("/logout").status_code == 403
    assert "rex" in http.get("/m/me").text
    done = http.post("/m/me/rename", data={**form, "csrf_token": gallery.csrf(http)})
    assert done.status_code == 303
    assert "rexy" in http.get("/m/me").text
    http.post("/m/me/rename", data={"name": "rexy", "new_name": "rex", "csrf_token": gallery.csrf(http)})


def test_sign_out_ends_the_session(gallery: Gallery) -> None:
    http = gallery.sign_in(ALICE)
    assert http.post("/logout", data={"csrf_token": gallery.csrf(http)}).status_code == 303
    assert http.get("/m/me").status_code == 303


def test_rapbot_web_refuses_to_start_without_a_session_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.web.server import run
    from bot.web.settings import WebSettings

    monkeypatch.delenv("RAPBOT_TELEGRAM_TOKEN", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run(WebSettings(session_secret="short"))
    assert "RAPBOT_WEB_SESSION_SECRET" in str(stopped.value)


def test_rapbot_web_says_who_can_sign_in() -> None:
    from bot.telegram_bot.settings import TelegramSettings
    from bot.web.server import sign_in_methods
    from bot.web.settings import WebSettings

    secret = "s" * 40
    [alone] = sign_in_methods(WebSettings(session_secret=secret), TelegramSettings(token=None))
    assert alone.startswith("sign-in: only the console's /gallery links")
    both = sign_in_methods(
        WebSettings(session_secret=secret, discord_client_id="1", discord_client_secret="x"),
        TelegramSettings(token="123:abc"),
    )
    assert both == ["sign-in: Telegram (Mini App and Login Widget)", "sign-in: Discord (OAuth2)"]
