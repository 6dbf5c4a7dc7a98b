"""Bounds on request bodies, before anything parses them: an upload (a concept's new photos) is
accepted only from a browser holding a signed-in session cookie, only up to the upload limit (by
its Content-Length, and again while it streams, for a body that says less than it sends), and only
as fast as a read timeout allows per chunk; the limit is per request, for all the photos of one
upload together. Every other body (forms, sign-in posts) has a small limit. A refusal is a 401,
408, 411 or 413 page; the connection is not kept waiting."""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPART_SLACK = 64 * 1024  # the form's other fields and boundaries around the photo
# A refused body up to this size is read and dropped before the 413 goes out: closing a connection
# with unread bytes makes the kernel reset it, and a browser still sending then shows "connection
# reset" instead of the page saying why (seen under load). A larger one is not read at all.
DRAIN_BYTES = 2 * 1024 * 1024
DRAIN_S = 2.0
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_upload(path: str) -> bool:
    return path.startswith("/m/") and path.endswith("/add-photo")


class BodyLimits:
    """ASGI middleware; inside the session middleware, which puts the cookie's session in the scope."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int, form_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.form_bytes = form_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            await self.app(scope, receive, send)
            return
        upload = is_upload(scope["path"])
        limit = self.upload_bytes + MULTIPART_SLACK if upload else self.form_bytes
        if upload and not _has_signed_in_cookie(scope):
            await _refuse(scope, send, 401, "Sign in first.")
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(scope, send, 400, "The request's Content-Length is not a number.")
            return
        if declared is not None and declared > limit:
            await _drain(receive, declared, min(DRAIN_S, self.read_timeout_s))
            await _refuse(scope, send, 413, _too_large(upload, self.upload_bytes))
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), timeout=self.read_timeout_s)
            except TimeoutError:
                raise HTTPException(408, "The request's body came too slowly. Please try again.") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit or (declared is not None and received > declared):
                    raise HTTPException(413, _too_large(upload, self.upload_bytes))
            return message

        await self.app(scope, bounded, send)


def _too_large(upload: bool, upload_bytes: int) -> str:
    return too_large(upload_bytes) if upload else "That request is too large."


def too_large(upload_bytes: int) -> str:
    """The limit is per upload (one request), for all its photos together."""
    return (
        f"That upload is too large: the photos sent at once may hold {max(1, upload_bytes // (1024 * 1024))} MB "
        "together. Send fewer at a time."
    )


def _has_signed_in_cookie(scope: Scope) -> bool:
    session = scope.get("session")
    return isinstance(session, dict) and isinstance(session.get("user"), dict) and "sid" in session


def _content_length(scope: Scope) -> int | None:
    """The declared length, None when not declared, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) <= 20 else -1
    return None


async def _drain(receive: Receive, declared: int, timeout_s: float) -> None:
    """Read and drop a refused body of at most DRAIN_BYTES, for at most `timeout_s` in all."""
    if declared > DRAIN_BYTES:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (left := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(receive(), timeout=left)
        except TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
    if "text/html" in accept:
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>rapbot</title>"
            f'<link rel=stylesheet href="/static/gallery.css"><main><h1>That did not work</h1>'
            f'<p class=error role=alert>{html.escape(message)}</p><p><a href="/">Your memories</a></p></main>'
        ).encode()
        kind = b"text/html; charset=utf-8"
    else:
        body, kind = json.dumps({"error": message}).encode(), b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
