"""Sign-in links for the local console. The console has no platform to vouch for its user, but it
runs on the operator's machine with the operator's settings: its /gallery signs a short-lived token
with the gallery's session secret, naming the console user (and group, and moderator flag) it acts
as, and the gallery's /auth/console turns a valid token into a session for that console memory,
once: the token's nonce is recorded with the session (web_sessions), and a second use is refused."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bot.settings import CONSOLE_LINK_MAX_AGE_S
from bot.web.identity import GroupAccess, SignedInUser, SignInRefused
from bot.web.settings import MIN_SECRET_CHARS, WebSettings
from worker.schemas import Requester

PLATFORM = "console"
_SALT = "rapbot-console-sign-in"  # a token made for this use is never valid for another
LINK_MAX_AGE_S = CONSOLE_LINK_MAX_AGE_S


@dataclass(frozen=True)
class ConsoleSignIn:
    user: SignedInUser
    groups: list[GroupAccess]
    landing: str  # where the gallery shows the memory the console was in
    nonce: str  # the link's own: recorded with the session it opens, so the link works once


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def sign_in_link(settings: WebSettings, who: Requester) -> str | None:
    """A link that signs the console's user into the gallery, or None when no session secret is
    set (the gallery would not start without one either)."""
    secret = settings.session_secret.get_secret_value() if settings.session_secret else ""
    if who.platform != PLATFORM or len(secret) < MIN_SECRET_CHARS:
        return None
    group = who.chat_id if who.chat_kind == "group" else None
    nonce = secrets.token_urlsafe(24)
    token = _serializer(secret).dumps({"user": who.user_id, "group": group, "moderator": who.moderator, "nonce": nonce})
    return f"{settings.public_url}/auth/console?token={token}"


def verify(secret: str, token: str) -> ConsoleSignIn:
    try:
        data: Any = _serializer(secret).loads(token, max_age=LINK_MAX_AGE_S)
    except SignatureExpired:
        raise SignInRefused("This sign-in link has expired: type /gallery in the console for a new one.") from None
    except BadSignature:
        raise SignInRefused("This sign-in link is not valid.") from None
    if not isinstance(data, dict):
        raise SignInRefused("This sign-in link is not valid.")
    user_id, group, nonce = data.get("user"), data.get("group"), data.get("nonce")
    if not (
        isinstance(user_id, str)
        and (group is None or isinstance(group, str))
        and isinstance(nonce, str)
        and 16 <= len(nonce) <= 64
    ):
        raise SignInRefused("This sign-in link is not valid.")
    user = SignedInUser(PLATFORM, user_id, user_id)
    if group is None:
        return ConsoleSignIn(user, [], "/m/me", nonce)
    return ConsoleSignIn(user, [GroupAccess(group, group, bool(data.get("moderator")))], f"/m/g{group}", nonce)
