"""Per-request checks every gallery route goes through: who is signed in, which memory the URL
names and whether they may open it (else 404, so a URL never tells whether a memory exists), the
CSRF token of every write, and the Requester the worker's client gets; and the app's state they read
(WebState: settings, the worker's client, memberships, the thumbnail cache, templates)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates

from bot.ratelimit import RequestLimits
from bot.web.discord_oauth import DiscordOAuth
from bot.web.identity import GroupAccess, SignedInUser, SignInRefused
from bot.web.memberships import Memberships
from bot.web.settings import WebSettings
from bot.web.thumbnails import Thumbnails
from worker.client import RapClient
from worker.errors import RapError
from worker.schemas import Requester

NOT_ALLOWED = "This bot is private: your account is not on its allow-list, so the gallery cannot open for you."
PRIVATE_KEY = "me"
GROUP_PREFIX = "g"


@dataclass
class WebState:
    settings: WebSettings
    client: RapClient
    memberships: Memberships
    thumbnails: Thumbnails
    templates: Jinja2Templates
    telegram_token: str | None
    discord: DiscordOAuth | None
    # Whether a user may use the bot at all (the platform's allow-list; bot/web/server.py).
    may_use: Callable[[SignedInUser], bool] = lambda _: True
    # The platforms' request limits, shared with their chat bots (platform -> limits).
    limits: dict[str, RequestLimits] = field(default_factory=dict)


class NotSignedIn(Exception):
    """No valid session: pages redirect to /login, photos and writes answer 401."""


@dataclass(frozen=True)
class OpenMemory:
    key: str  # "me" or "g<chat id>": the URL segment
    title: str
    who: Requester
    group: GroupAccess | None

    @property
    def is_group(self) -> bool:
        return self.group is not None

    @property
    def moderator(self) -> bool:
        return self.group is not None and self.group.moderator


def state_of(request: Request) -> WebState:
    found: WebState = request.app.state.web
    return found


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _requester(user: SignedInUser) -> Requester:
    return Requester(platform=user.platform, user_id=user.user_id, chat_kind="user")


async def current_user(request: Request) -> SignedInUser:
    """The signed-in user: a signed cookie naming them and a session id that Postgres still holds
    open (sign-out, "sign out everywhere" and /forgetme end it there), of a user who may use the
    bot now (the platform's allow-list). Else the cookie is cleared and NotSignedIn raised."""
    known = getattr(request.state, "signed_in", None)
    if isinstance(known, SignedInUser):
        return known
    user = SignedInUser.from_session(request.session.get("user"))
    session_id = request.session.get("sid")
    state = state_of(request)
    if user is None or not isinstance(session_id, str) or not state.may_use(user):
        request.session.clear()
        raise NotSignedIn()
    if not await state.client.session_active(_requester(user), _session_hash(session_id)):
        state.memberships.forget(user)
        request.session.clear()
        raise NotSignedIn()
    request.state.signed_in = user
    return user


async def start_session(request: Request, user: SignedInUser, sign_in_nonce: str | None = None) -> None:
    """A fresh session (nothing carried over from before sign-in) with a new CSRF token, recorded in
    Postgres. SignInRefused for a user the bot's allow-list leaves out (no session is made), and
    for a console link used before (`sign_in_nonce`)."""
    state = state_of(request)
    request.session.clear()
    if not state.may_use(user):
        raise SignInRefused(NOT_ALLOWED)
    session_id = secrets.token_urlsafe(32)
    try:
        await state.client.open_session(
            _requester(user), _session_hash(session_id), state.settings.session_max_age_s, sign_in_nonce
        )
    except RapError as err:
        if err.code == "already_used":
            raise SignInRefused(err.message) from None
        raise
    request.session["user"] = user.to_session()
    request.session["sid"] = session_id
    request.session["csrf"] = secrets.token_urlsafe(32)


async def end_session(request: Request, *, everywhere: bool = False) -> None:
    """Sign-out: this session (or, `everywhere`, every session of the user) ends in Postgres, so
    the cookie opens nothing from any client; the cookie is cleared."""
    user = SignedInUser.from_session(request.session.get("user"))
    session_id = request.session.get("sid")
    request.session.clear()
    if user is None:
        return
    state = state_of(request)
    state.memberships.forget(user)
    one = None if everywhere or not isinstance(session_id, str) else _session_hash(session_id)
    if one is None and not everywhere:
        return
    await state.client.end_sessions(_requester(user), one)


def sign_in_nonce(request: Request) -> str:
    """The nonce a sign-in page gives its browser (kept in the pre-sign-in cookie): a sign-in must
    send it back, so another site cannot sign a browser in as someone else (login CSRF)."""
    nonce = request.session.get("signin_nonce")
    if not isinstance(nonce, str):
        nonce = secrets.token_urlsafe(24)
        request.session["signin_nonce"] = nonce
    return nonce


def check_sign_in_nonce(request: Request, sent: str | None) -> None:
    expected = request.session.pop("signin_nonce", None)
    if not (isinstance(expected, str) and sent and hmac.compare_digest(expected.encode(), sent.encode())):
        raise SignInRefused("This sign-in did not start on this page. Please open the gallery again.")


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Every write carries the session's token (form field `csrf_token` or header X-CSRF-Token)."""
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not (isinstance(expected, str) and sent and hmac.compare_digest(expected.encode(), sent.encode())):
        raise HTTPException(
            403, "This form has expired or did not come from the gallery. Reload the page and try again."
        )


async def user_groups(request: Request, user: SignedInUser) -> list[GroupAccess]:
    groups = await state_of(request).memberships.groups(user)
    if groups is None:  # cannot ask the platform again without a new sign-in
        request.session.clear()
        raise NotSignedIn()
    return groups


async def open_memory(request: Request, key: str) -> OpenMemory:
    user = await current_user(request)
    if key == PRIVATE_KEY:
        who = Requester(platform=user.platform, user_id=user.user_id, chat_kind="user")
        return OpenMemory(key, "My memory", who, None)
    if key.startswith(GROUP_PREFIX):
        chat_id = key.removeprefix(GROUP_PREFIX)
        for group in await user_groups(request, user):
            if group.chat_id == chat_id:
                who = Requester(
                    platform=user.platform,
                    user_id=user.user_id,
                    chat_kind="group",
                    chat_id=chat_id,
                    moderator=group.moderator,
                )
                return OpenMemory(key, group.title, who, group)
    raise HTTPException(404, "There is no such memory, or it is not yours to open.")


def group_key(group: GroupAccess) -> str:
    return GROUP_PREFIX + group.chat_id


def check_rate(request: Request, memory: OpenMemory) -> None:
    """A gallery write (or search) counts against the same per-user and per-chat limits as the user's
    requests in the chats (bot/ratelimit.py); over them: 429."""
    limits = state_of(request).limits.get(memory.who.platform)
    if limits is None:
        return
    chat = memory.who.chat_id if memory.is_group else None
    wait = limits.try_acquire(memory.who.user_id, chat)
    if wait is not None:
        raise HTTPException(429, f"Too many requests at once: try again in {max(1, round(wait))} seconds.")
