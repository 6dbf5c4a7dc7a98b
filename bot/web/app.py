"""The gallery's FastAPI application: `create_app(settings, client, ...)`. Pages are rendered on
the server (Jinja2); the only script is the Mini App's sign-in. The worker's client does all the
work and the memory store's policy decides every write; the pages only leave out what a user
could not do anyway."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from bot.ratelimit import RequestLimits
from bot.web import auth_routes, gallery_routes, index_routes, log_redaction, moderation_routes
from bot.web.access import NotSignedIn
from bot.web.body_limits import BodyLimits
from bot.web.discord_oauth import DiscordOAuth
from bot.web.identity import SignedInUser
from bot.web.memberships import Memberships
from bot.web.pages import WebState, render, status_of
from bot.web.settings import WebSettings
from bot.web.thumbnails import Thumbnails
from worker.client import RapClient
from worker.errors import RapError

HERE = Path(__file__).parent
SESSION_COOKIE = "rapbot_session"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: https://t.me https://*.telegram.org",
        "script-src 'self' https://telegram.org",
        "frame-src https://oauth.telegram.org",
        "style-src 'self'",
        # Telegram Web shows Mini Apps in an iframe of its own site.
        "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org",
        "form-action 'self' https://discord.com",
        "base-uri 'none'",
    ]
)


def create_app(
    settings: WebSettings,
    client: RapClient,
    *,
    telegram_token: str | None = None,
    memberships: Memberships | None = None,
    discord: DiscordOAuth | None = None,
    may_use: Callable[[SignedInUser], bool] | None = None,
    limits: dict[str, RequestLimits] | None = None,
) -> FastAPI:
    """The gallery over an open worker client. `memberships` asks the platforms which groups a
    user belongs to (built by bot/web/server.py from the Telegram and Discord settings)."""
    app = FastAPI(title="rapbot gallery", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.web = WebState(
        settings=settings,
        client=client,
        memberships=memberships or Memberships(client, settings.membership_ttl_s, discord=discord),
        thumbnails=Thumbnails(settings.thumbnail_px, settings.thumbnail_cache_items),
        templates=templates,
        telegram_token=telegram_token,
        discord=discord,
        may_use=may_use or (lambda _: True),
        limits=limits or {},
    )
    # No secret in any log line (bot/web/log_redaction.py): the token, the client secret, the
    # session secret, and the query strings of access log lines.
    log_redaction.install(
        telegram_token,
        settings.require_secret(),
        settings.discord_client_secret.get_secret_value() if settings.discord_client_secret else None,
    )
    # Bodies are bounded before anything parses them (inside the session middleware, added next,
    # so an upload is refused before it is read when the cookie names nobody).
    app.add_middleware(
        BodyLimits,
        upload_bytes=settings.max_upload_bytes,
        form_bytes=settings.max_form_bytes,
        read_timeout_s=settings.body_read_timeout_s,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.require_secret(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site=settings.cookie_samesite,
        https_only=settings.secure_cookies or settings.cookie_samesite == "none",
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if "cache-control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        browser = "text/html" in request.headers.get("accept", "")
        if request.method == "GET" and browser:
            return RedirectResponse("/login", status_code=303)
        if browser:
            return render(request, "error.html", 401, message="Sign in first: your session has ended.")
        return JSONResponse({"error": "Sign in first."}, status_code=401)

    @app.exception_handler(RapError)
    async def rap_error(request: Request, error: RapError) -> Response:
        return render(request, "error.html", status_of(error), message=error.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": error.detail}, status_code=error.status_code)
        return render(request, "error.html", error.status_code, message=error.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        """Parameters out of bounds (a page number, a name with control characters, a length): a
        422 page saying which, never the values sent (they may be anything)."""
        where = sorted({".".join(str(part) for part in e.get("loc", ())[1:]) or "request" for e in error.errors()})
        message = "This address or form has a value the gallery cannot accept: " + ", ".join(where)[:200] + "."
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"error": message}, status_code=422)
        return render(request, "error.html", 422, message=message)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:  # browsers ask for it at the root, whatever the page links
        icon = (HERE / "static" / "favicon.ico").read_bytes()
        return Response(icon, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})

    app.include_router(auth_routes.router)
    app.include_router(gallery_routes.router)
    app.include_router(index_routes.router)
    app.include_router(moderation_routes.router)
    return app
