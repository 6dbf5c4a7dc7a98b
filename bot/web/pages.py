"""What every page shares: the app's state (settings, the worker's client, memberships, the
thumbnail cache, templates) and `render`, which gives each template the user, the CSRF token and
the one-time message of the last write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bot.web.access import csrf_token
from bot.web.discord_oauth import DiscordOAuth
from bot.web.identity import SignedInUser
from bot.web.memberships import Memberships
from bot.web.settings import WebSettings
from bot.web.thumbnails import Thumbnails
from worker.client import RapClient
from worker.errors import RapError

# RapError codes and the HTTP status a page answers with; anything else is the service's fault.
STATUS_OF_CODE = {
    "permission_denied": 403,
    "unknown_concept": 404,
    "unknown_scope": 404,
    "duplicate_name": 409,
    "already_saved": 409,
    "quota_exceeded": 409,
}
CLIENT_MISTAKES = {"invalid_name", "invalid_description", "invalid_category", "invalid_setting", "invalid_image"}
CLIENT_MISTAKES |= {"bad_image", "bad_request", "no_pending"}


@dataclass
class WebState:
    settings: WebSettings
    client: RapClient
    memberships: Memberships
    thumbnails: Thumbnails
    templates: Jinja2Templates
    telegram_token: str | None
    discord: DiscordOAuth | None


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    state: WebState = request.app.state.web
    flash = request.session.pop("flash", None)
    base = {
        "user": SignedInUser.from_session(request.session.get("user")),
        "csrf_token": csrf_token(request),
        "flash": flash if isinstance(flash, str) else None,
        "settings": state.settings,
    }
    return state.templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def status_of(error: RapError) -> int:
    if error.code in STATUS_OF_CODE:
        return STATUS_OF_CODE[error.code]
    return 400 if error.code in CLIENT_MISTAKES else 503
