"""Sign-in and sign-out: the Telegram Mini App (/tg posts `initData`), the Telegram Login Widget
(its redirect to /auth/telegram/widget), Discord OAuth2 (/auth/discord and its callback), and the
local console's sign-in links (/auth/console, bot/web/console_signin.py)."""

from __future__ import annotations

import contextlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.web.access import NotSignedIn, check_csrf, current_user, start_session, state_of
from bot.web.console_signin import verify as verify_console_link
from bot.web.identity import SignedInUser, SignInRefused
from bot.web.pages import render
from bot.web.telegram_signin import verify_init_data, verify_login_widget

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    state = state_of(request)
    return render(
        request,
        "login.html",
        telegram_widget=bool(state.telegram_token and state.settings.telegram_bot_username),
        discord=state.discord is not None,
    )


@router.get("/tg", response_class=HTMLResponse)
async def mini_app(request: Request) -> Response:
    """The Mini App's entry (the URL set in BotFather): its script posts Telegram.WebApp.initData."""
    return render(request, "tg.html")


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
async def telegram_webapp(request: Request, init_data: str = Form("")) -> Response:
    _same_origin(request)
    state = state_of(request)
    if state.telegram_token is None:
        return JSONResponse({"error": "Telegram sign-in is not set up here."}, status_code=404)
    try:
        user = verify_init_data(init_data, state.telegram_token, state.settings.auth_max_age_s)
    except SignInRefused as refused:
        return JSONResponse({"error": str(refused)}, status_code=403)
    await _signed_in(request, user)
    return JSONResponse({"ok": True, "next": "/"})


@router.get("/auth/telegram/widget")
async def telegram_widget(request: Request) -> Response:
    state = state_of(request)
    if state.telegram_token is None:
        raise HTTPException(404, "Telegram sign-in is not set up here.")
    try:
        user = verify_login_widget(dict(request.query_params), state.telegram_token, state.settings.auth_max_age_s)
    except SignInRefused as refused:
        return render(request, "error.html", 403, message=str(refused))
    await _signed_in(request, user)
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
async def discord_callback(request: Request, code: str = "", state: str = "") -> Response:
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
    except SignInRefused as refused:
        return render(request, "error.html", 403, message=str(refused))
    start_session(request, found.user)
    await web.memberships.discord_signed_in(found.user, found.access_token, found.guilds)
    return RedirectResponse("/", status_code=303)


@router.get("/auth/console")
async def console_link(request: Request, token: str = "") -> Response:
    web = state_of(request)
    try:
        found = verify_console_link(web.settings.require_secret(), token)
    except SignInRefused as refused:
        return render(request, "error.html", 403, message=str(refused))
    start_session(request, found.user)
    web.memberships.signed_in_with(found.user, found.groups)
    return RedirectResponse(found.landing, status_code=303)


async def _signed_in(request: Request, user: SignedInUser) -> None:
    start_session(request, user)
    memberships = state_of(request).memberships
    memberships.forget(user)  # a new sign-in asks the platform afresh
    await memberships.groups(user)


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Response:
    with contextlib.suppress(NotSignedIn):  # signed out already: nothing to forget
        state_of(request).memberships.forget(current_user(request))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
