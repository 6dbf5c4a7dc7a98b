"""Per-request checks every gallery route goes through: who is signed in, which memory the URL
names and whether they may open it (else 404, so a URL never tells whether a memory exists), the
CSRF token of every write, and the Requester the worker's client gets."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request

from bot.web.identity import GroupAccess, SignedInUser
from worker.schemas import Requester

if TYPE_CHECKING:
    from bot.web.pages import WebState

PRIVATE_KEY = "me"
GROUP_PREFIX = "g"


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


def current_user(request: Request) -> SignedInUser:
    user = SignedInUser.from_session(request.session.get("user"))
    if user is None:
        raise NotSignedIn()
    return user


def start_session(request: Request, user: SignedInUser) -> None:
    """A fresh session (nothing carried over from before sign-in) with a new CSRF token."""
    request.session.clear()
    request.session["user"] = user.to_session()
    request.session["csrf"] = secrets.token_urlsafe(32)


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
    user = current_user(request)
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
