"""Hostile HTTP never reaches a 5xx: page and view numbers out of range, NUL and other control
characters in names, malformed parameters (a 422 page a browser can read, not JSON), and request
bodies that are too large (by their Content-Length, or while they stream), sent before sign-in,
or sent too slowly. Each case fails on a gallery that parses first and checks later."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from web_testkit import BOB, BODY_READ_TIMEOUT_S, Gallery, jpeg


@pytest.fixture(scope="module")
def bob(gallery: Gallery) -> httpx.Client:
    return gallery.sign_in(BOB)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/m/me", {"page": "9223372036854775808"}),
        ("/m/me", {"page": str(10**30)}),
        ("/m/me", {"page": "-5"}),
        ("/m/me", {"page": "one"}),
        ("/m/me/concept", {"name": "re\x00x"}),
        ("/m/me/concept", {"name": "x" * 5000}),
        ("/m/me/concept", {}),
        ("/m/me/photo", {"name": "rex", "view": "9223372036854775808"}),
        ("/m/me/photo", {"name": "rex", "size": "huge"}),
        ("/m/me/photo", {"name": "re\x00x"}),
    ],
)
def test_bad_parameters_get_a_readable_422_page(bob: httpx.Client, path: str, params: dict[str, str]) -> None:
    response = bob.get(path, params=params)
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert "That did not work" in response.text and "\x00" not in response.text


def test_a_nul_byte_in_a_written_name_is_a_422_not_a_database_error(gallery: Gallery, bob: httpx.Client) -> None:
    token = gallery.csrf(bob, "/m/me")
    for field in ("name", "new_name"):
        form = {"name": "rex", "new_name": "rexy", "csrf_token": token, field: "r\x00x"}
        response = bob.post("/m/me/rename", data=form)
        assert response.status_code == 422, response.text[:300]
    assert bob.post("/m/g%00/edit", data={"name": "x", "csrf_token": token}).status_code == 422


def test_clients_that_do_not_ask_for_html_get_json_errors(bob: httpx.Client) -> None:
    response = bob.get("/m/me", params={"page": "0"}, headers={"accept": "application/json"})
    assert response.status_code == 422 and "page" in response.json()["error"]


def raw_request(url: str, head: str, body: bytes = b"", wait_s: float = 10.0) -> tuple[int, float]:
    """Send a request by hand (a Content-Length that lies, a body that stalls); the status and how
    long the answer took."""
    parts = urlsplit(url)
    started = time.monotonic()
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=wait_s) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), time.monotonic() - started


def cookie_header(http: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def upload_head(gallery: Gallery, length: int, cookie: str = "") -> str:
    host = urlsplit(gallery.url).netloc
    lines = [
        "POST /m/me/add-photo HTTP/1.1",
        f"Host: {host}",
        "Accept: text/html",
        "Content-Type: multipart/form-data; boundary=xyz",
        f"Content-Length: {length}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    return "\r\n".join(lines) + "\r\n\r\n"


def test_an_upload_before_sign_in_is_refused_before_its_body_is_read(gallery: Gallery) -> None:
    status, took = raw_request(gallery.url, upload_head(gallery, 80 * 1024 * 1024), b"--xyz\r\n")
    assert status == 401 and took < BODY_READ_TIMEOUT_S


def test_an_upload_that_says_10_gb_is_refused_at_once(gallery: Gallery, bob: httpx.Client) -> None:
    status, took = raw_request(gallery.url, upload_head(gallery, 10 * 1024**3, cookie_header(bob)), b"--xyz\r\n")
    assert status == 413 and took < BODY_READ_TIMEOUT_S


def test_a_slow_body_is_answered_408(gallery: Gallery, bob: httpx.Client) -> None:
    status, took = raw_request(gallery.url, upload_head(gallery, 5000, cookie_header(bob)), b"--xyz\r\n")
    assert status == 408 and took < BODY_READ_TIMEOUT_S * 3


def test_a_body_longer_than_the_limit_is_cut_while_it_streams(gallery: Gallery, bob: httpx.Client) -> None:
    """A chunked body (no Content-Length) is counted as it arrives: past the limit, 413."""
    limit = gallery.app.state.web.settings.max_upload_bytes
    token = gallery.csrf(bob, "/m/me")
    photo = jpeg("chelsea")

    def body() -> object:
        yield b'--xyz\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n' + token.encode() + b"\r\n"
        yield b'--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nrex\r\n'
        yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n' + photo
        sent = len(photo)
        while sent <= limit + 128 * 1024:
            yield b"\0" * 65536
            sent += 65536
        yield b"\r\n--xyz--\r\n"

    response = bob.post(
        "/m/me/add-photo", content=body(), headers={"content-type": "multipart/form-data; boundary=xyz"}
    )
    assert response.status_code == 413


def test_other_posts_have_a_small_body_limit(gallery: Gallery, bob: httpx.Client) -> None:
    token = gallery.csrf(bob, "/m/me")
    response = bob.post("/m/me/edit", data={"name": "rex", "description": "x" * 200_000, "csrf_token": token})
    assert response.status_code == 413


def test_a_refused_form_sent_whole_gets_the_page_not_a_reset(gallery: Gallery, bob: httpx.Client) -> None:
    """A browser sends the whole body before it reads the answer: the 413 page must still reach it
    (a server that answers and closes with the body unread makes the kernel reset the connection,
    and the reply is lost; seen under load)."""
    body = b"name=rex&description=" + b"x" * 200_000
    cookie = "; ".join(f"{name}={value}" for name, value in bob.cookies.items())
    url = urlsplit(gallery.url)
    assert url.hostname is not None and url.port is not None
    head = (
        f"POST /m/me/edit HTTP/1.1\r\nHost: {url.hostname}\r\nAccept: text/html\r\nCookie: {cookie}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=30) as conn:
        conn.sendall(head.encode() + body)
        time.sleep(1.0)  # the server has answered (and, without reading the body, reset) by now
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"too large" in reply


def test_gallery_writes_count_against_the_chats_request_limits(gallery: Gallery, bob: httpx.Client) -> None:
    """One count per user with the chat bot of the same platform (bot/ratelimit.py): when the
    Telegram bot's limit is spent, the gallery's next write waits too."""
    from bot.ratelimit import RequestLimits

    state = gallery.app.state.web
    shared = RequestLimits.create(user_limit=1, chat_limit=100, namespace="telegram", storage_uri="memory://")
    before = state.limits
    state.limits = {"telegram": shared}
    try:
        assert shared.try_acquire(BOB, None) is None  # bob's one request, made in the chat
        token = gallery.csrf(bob, "/m/me")
        response = bob.post("/m/me/edit", data={"name": "rex", "description": "again", "csrf_token": token})
        assert response.status_code == 429 and "Too many" in response.text
    finally:
        state.limits = before
