"""Sign-in links for the local console. The console has no platform to vouch for its user, but it
runs on the operator's machine with the operator's settings: its /gallery signs a short-lived token
with the gallery's session secret, naming the console user (and group, and moderator flag) it acts
as, and the gallery's /auth/console turns a valid token into a session for that console memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bot.web.identity import GroupAccess, SignedInUser, SignInRefused
from bot.web.settings import MIN_SECRET_CHARS, WebSettings
from worker.schemas import Requester

PLATFORM = "console"
_SALT = "rapbot-console-sign-in"  # a token made for this use is never valid for another
LINK_MAX_AGE_S = 600


@dataclass(frozen=True)
class ConsoleSignIn:
    user: SignedInUser
    groups: list[GroupAccess]
    landing: str  # where the gallery shows the memory the console was in


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def sign_in_link(settings: WebSettings, who: Requester) -> str | None:
    """A link that signs the console's user into the gallery, or None when no session secret is
    set (the gallery would not start without one either)."""
    secret = settings.session_secret.get_secret_value() if settings.session_secret else ""
    if who.platform != PLATFORM or len(secret) < MIN_SECRET_CHARS:
        return None
    group = who.chat_id if who.chat_kind == "group" else None
    token = _serializer(secret).dumps({"user": who.user_id, "group": group, "moderator": who.moderator})
    return f"{settings.public_url}/auth/console?token={token}"


def verify(secret: str, token: str) -> ConsoleSignIn:
    try:
        data: Any = _serializer(secret).loads(token, max_age=LINK_MAX_AGE_S)
    except SignatureExpired:
        raise SignInRefused("This sign-in link has expired: type /gallery in the console for a new one.") from None
    except BadSignature:
        raise SignInRefused("This sign-in link is not valid.") from None
    user_id, group = data.get("user"), data.get("group")
    if not isinstance(user_id, str) or not (group is None or isinstance(group, str)):
        raise SignInRefused("This sign-in link is not valid.")
    user = SignedInUser(PLATFORM, user_id, user_id)
    if group is None:
        return ConsoleSignIn(user, [], "/m/me")
    return ConsoleSignIn(user, [GroupAccess(group, group, bool(data.get("moderator")))], f"/m/g{group}")
