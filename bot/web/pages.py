"""What every page shares: `render`, which gives each template the user, the CSRF token and the
one-time message of the last write, and the HTTP status of each RapError. The app's state it reads
(WebState) lives in bot/web/access.py beside the checks that read it."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from bot.dispatch import Outcome, outcome_of
from bot.web.access import WebState, csrf_token
from bot.web.identity import SignedInUser
from worker.errors import RapError

# The HTTP status of each outcome code (bot.dispatch.Outcome) a page answers with.
STATUS_OF_OUTCOME: dict[Outcome, int] = {
    "ok": 200,
    "refused": 403,
    "not_found": 404,
    "invalid": 422,
    "unavailable": 503,
}


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
    """A RapError's status: that of its outcome code, the same the chats' replies carry."""
    return STATUS_OF_OUTCOME[outcome_of(error)]
