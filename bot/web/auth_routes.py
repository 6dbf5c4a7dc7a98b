"""Sign-in and sign-out: the Telegram Mini App (/tg posts `initData`), the Telegram Login Widget
(its redirect to /auth/telegram/widget), Discord OAuth2 (/auth/discord and its callback), and the
local console's sign-in links (/auth/console, bot/web/console_signin.py)."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.web.access import (
    check_csrf,
    check_sign_in_nonce,
    end_session,
    sign_in_nonce,
    start_session,
    state_of,
)
from bot.web.console_signin import verify as verify_console_link
from bot.web.identity import SignedInUser, SignInRefused
from bot.web.pages import render
from bot.web.telegram_signin import MAX_INIT_DATA_CHARS, verify_init_data, verify_login_widget

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    state = state_of(request)
    return render(
        request,
        "login.html",
        telegram_widget=bool(state.telegram_token and state.settings.telegram_bot_username),
        discord=state.discord is not None,
        sign_in_nonce=sign_in_nonce(request),
    )


@router.get("/tg", response_class=HTMLResponse)
async def mini_app(request: Request) -> Response:
    """The Mini App's entry (the URL set in BotFather): its script posts Telegram.WebApp.initData."""
    return render(request, "tg.html", sign_in_nonce=sign_in_nonce(request))


def _same_origin(request: Request) -> None:
    """Sign-in posts carry no CSRF token yet (no session); a browser's Origin must be ours."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    ours = urlsplit(state_of(request).settings.public_url)
    served = urlsplit(str(request.base_url))
    if origin.rstrip("/") not in {f"{ours.scheme}://{ours.netloc}", f"{served.scheme}://{served.netloc}"}:
        raise HTTPException(403, "Sign in from the gallery's own page.")


@router.post("/auth/telegram/webapp")
async def telegram_webapp(
    request: Request, init_data: str = Form("", max_length=MAX_INIT_DATA_CHARS), nonce: str = Form("", max_length=64)
) -> Response:
    """The Mini App's post of initData, with the nonce /tg gave this browser (no login CSRF)."""
    _same_origin(request)
    state = state_of(request)
    if state.telegram_token is None:
        return JSONResponse({"error": "Telegram sign-in is not set up here."}, status_code=404)
    try:
        check_sign_in_nonce(request, nonce)
        user = verify_init_data(init_data, state.telegram_token, state.settings.auth_max_age_s)
        await _signed_in(request, user)
    except SignInRefused as refused:
        return JSONResponse({"error": str(refused)}, status_code=403)
    return JSONResponse({"ok": True, "next": "/"})


@router.get("/auth/telegram/widget")
async def telegram_widget(request: Request) -> Response:
    state = state_of(request)
    if state.telegram_token is None:
        raise HTTPException(404, "Telegram sign-in is not set up here.")
    # The widget's redirect carries Telegram's signed fields and the `state` /login put in its
    # auth URL: only the browser that opened /login holds that nonce (no login CSRF).
    fields = {key: value for key, value in request.query_params.items() if key != "state"}
    try:
        check_sign_in_nonce(request, request.query_params.get("state"))
        user = verify_login_widget(fields, state.telegram_token, state.settings.auth_max_age_s)
        await _signed_in(request, user)
    except SignInRefused as refused:
        return render(request, "error.html", 403, message=str(refused))
    return RedirectResponse("/", status_code=303)


@router.get("/auth/discord")
async def discord_start(request: Request) -> Response:
    discord = state_of(request).discord
    if discord is None:
        raise HTTPException(404, "Discord sign-in is not set up here.")
    state = secrets.token_urlsafe(24)
    request.session["oauth_state"] = state
    return RedirectResponse(discord.authorize_url(state), status_code=303)


@router.get("/auth/discord/callback")
async def discord_callback(
    request: Request, code: str = Query("", max_length=512), state: str = Query("", max_length=128)
) -> Response:
    web = state_of(request)
    if web.discord is None:
        raise HTTPException(404, "Discord sign-in is not set up here.")
    expected = request.session.pop("oauth_state", None)
    if not (isinstance(expected, str) and state and hmac.compare_digest(expected.encode(), state.encode())):
        return render(request, "error.html", 403, message="This sign-in did not start here. Please try again.")
    if not code:
        return render(request, "error.html", 403, message="Discord did not allow the sign-in.")
    try:
        found = await web.discord.sign_in(code)
        await start_session(request, found.user)
    except SignInRefused as refused:
        return render(request, "error.html", 403, message=str(refused))
    await web.memberships.discord_signed_in(found.user, found.access_token, found.guilds)
    return RedirectResponse("/", status_code=303)


@router.get("/auth/console")
async def console_link(request: Request, token: str = Query("", max_length=2048)) -> Response:
    """A console's sign-in link: valid for minutes and once (its nonce is recorded with the session)."""
    web = state_of(request)
    try:
        found = verify_console_link(web.settings.require_secret(), token)
        await start_session(request, found.user, found.nonce)
    except SignInRefused as refused:
        return render(request, "error.html", 403, message=str(refused))
    web.memberships.signed_in_with(found.user, found.groups)
    return RedirectResponse(found.landing, status_code=303)


async def _signed_in(request: Request, user: SignedInUser) -> None:
    await start_session(request, user)
    memberships = state_of(request).memberships
    memberships.forget(user)  # a new sign-in asks the platform afresh
    await memberships.groups(user)


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Response:
    """Sign out: this session ends on the server too (its cookie, copied elsewhere, opens nothing)."""
    await end_session(request)
    return RedirectResponse("/login", status_code=303)


@router.post("/logout/everywhere", dependencies=[Depends(check_csrf)])
async def logout_everywhere(request: Request) -> Response:
    """Every session of this user on this platform ends (other browsers, other devices)."""
    await end_session(request, everywhere=True)
    return RedirectResponse("/login", status_code=303)
