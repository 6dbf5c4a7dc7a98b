"""Helpers and fixtures of the gallery tests (conftest.py re-exports the fixtures): per module, a
migrated database on the session's embedded Postgres, the in-process worker client (tiny profile)
with memories seeded through it, a fake Telegram Bot API + Discord API on loopback, and `rapbot
web`'s app (bot.web.server.build_app) served by uvicorn on a free loopback port. Sign-in data is
signed here the way Telegram documents it, independently of the code under test."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image
from web_servers import DiscordAccount, FakePlatforms, ServerThread

from worker.client import RapClient
from worker.schemas import Requester

TOKEN = "7000001:AAF-test-token-for-the-gallery-000000"
SECRET = "a-session-secret-for-tests-only-0123456789abcdef"
CLIENT_ID = "1234567890"
CLIENT_SECRET = "discord-client-secret-for-tests"

BODY_READ_TIMEOUT_S = 2.0  # the gallery's, so a slow-body test is quick
ALICE, BOB, CAROL = 111, 222, 333  # Telegram users
DAVE = "444"  # a Discord user
CLUB, OTHER = -1001, -1002  # Telegram groups: alice moderates the club, bob is a member; carol alone in other
GUILD_MEMBER, GUILD_MOD, GUILD_UNKNOWN = "900", "901", "902"  # Discord guilds of dave
MANAGE_GUILD = 1 << 5

_names = itertools.count()


def tg(user_id: int, chat: int | None = None) -> Requester:
    if chat is None:
        return Requester(platform="telegram", user_id=str(user_id))
    return Requester(platform="telegram", user_id=str(user_id), chat_kind="group", chat_id=str(chat), moderator=True)


def init_data(user_id: int, *, auth_date: int | None = None, first_name: str = "Alice") -> str:
    """Mini App initData as Telegram builds it: secret = HMAC_SHA256("WebAppData", token), hash =
    hex HMAC_SHA256(secret, the sorted key=value lines of every other field)."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": first_name, "username": f"u{user_id}"}, separators=(",", ":")),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def widget_params(user_id: int, *, key: bytes | None = None) -> dict[str, str]:
    """The Login Widget's redirect parameters: secret = SHA256(token), same check string."""
    fields = {"id": str(user_id), "first_name": "Alice", "username": f"u{user_id}", "auth_date": str(int(time.time()))}
    secret = key if key is not None else hashlib.sha256(TOKEN.encode()).digest()
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return fields


def jpeg(name: str, size: int | None = None) -> bytes:
    from skimage import data

    image = Image.fromarray(getattr(data, name)()).convert("RGB")
    if size:
        image = image.resize((size, size))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


async def remember(client: RapClient, who: Requester, name: str, description: str, photo: bytes) -> None:
    result = await client.remember(who, name, description, [photo])
    if result.status == "candidates":  # several boxes: keep the whole photo
        assert result.pending_id is not None
        result = await client.choose(who, result.pending_id, "whole")
    assert result.status == "stored"


@dataclass
class Gallery:
    url: str
    client: RapClient
    platforms: FakePlatforms
    app: Any = None  # the FastAPI app served (its state: app.state.web)

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"accept": "text/html"}, timeout=120)

    def sign_in(self, user_id: int) -> httpx.Client:
        http = self.browser()
        response = self.post_init_data(http, init_data(user_id))
        assert response.status_code == 200, response.text
        return http

    @staticmethod
    def nonce(http: httpx.Client, path: str = "/tg") -> str:
        """The sign-in nonce a page gives this browser (the Mini App page's body data-nonce, or
        the Login Widget's auth URL state on /login)."""
        page = http.get(path).text
        marker = 'data-nonce="' if path == "/tg" else "/auth/telegram/widget?state="
        start = page.index(marker) + len(marker)
        return page[start : page.index('"', start)]

    def post_init_data(self, http: httpx.Client, data: str, **kwargs: Any) -> httpx.Response:
        """What the Mini App page's script does: post initData with the page's nonce."""
        return http.post("/auth/telegram/webapp", data={"init_data": data, "nonce": self.nonce(http)}, **kwargs)

    def widget_sign_in(self, http: httpx.Client, params: dict[str, str]) -> httpx.Response:
        """The Login Widget's redirect back, to the auth URL /login gave it (with its state)."""
        return http.get("/auth/telegram/widget", params={**params, "state": self.nonce(http, "/login")})

    def csrf(self, http: httpx.Client, path: str = "/") -> str:
        page = http.get(path).text
        marker = 'name="csrf_token" value="'
        start = page.index(marker) + len(marker)
        return page[start : page.index('"', start)]


@pytest.fixture(scope="module")
def web_database(pg_server: Any, migrated_template: str) -> Iterator[str]:
    name = f"web{os.getpid()}_{next(_names)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {migrated_template};")
    yield pg_server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
    pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")


@pytest.fixture(scope="module")
def web_client(web_database: str, tiny_models: Any) -> Iterator[RapClient]:
    from memory.settings import MemorySettings
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    client = LocalClient.open(WorkerSettings(), MemorySettings(database_url=web_database), bundle=tiny_models)
    asyncio.run(_seed(client))
    try:
        yield client
    finally:
        asyncio.run(client.close())


async def _seed(client: RapClient) -> None:
    """alice: "bo" (private); bob: "rex" (private); the club: "mascot" by alice, "bobcat" by bob;
    the other group: "secret" by carol; dave's guilds: "guildpet" and "modpet"; and a guild
    dave is not in."""
    await remember(client, tg(ALICE), "bo", "my shiba inu, loves chicken", jpeg("chelsea"))
    await remember(client, tg(BOB), "rex", "bob's own dog", jpeg("coffee"))
    await remember(client, tg(ALICE, CLUB), "mascot", "the club's mascot", jpeg("astronaut"))
    await remember(
        client,
        Requester(platform="telegram", user_id=str(BOB), chat_kind="group", chat_id=str(CLUB)),
        "bobcat",
        "bob's contribution",
        jpeg("rocket"),
    )
    await remember(client, tg(CAROL, OTHER), "secret", "carol's group only", jpeg("camera"))
    for guild, name in ((GUILD_MEMBER, "guildpet"), (GUILD_MOD, "modpet"), ("903", "strangerpet")):
        who = Requester(platform="discord", user_id="555", chat_kind="group", chat_id=guild, moderator=True)
        await remember(client, who, name, "a guild's pet", jpeg("cat", 300))


@pytest.fixture(scope="module")
def platforms() -> Iterator[FakePlatforms]:
    fake = FakePlatforms(TOKEN, CLIENT_ID, CLIENT_SECRET)
    fake.chat_members.update({(CLUB, ALICE): "administrator", (CLUB, BOB): "member", (OTHER, CAROL): "creator"})
    fake.chat_titles.update({CLUB: "Shiba Club", OTHER: "Carol's Secret Group"})
    yield fake


@pytest.fixture(scope="module")
def gallery(web_client: RapClient, platforms: FakePlatforms) -> Iterator[Gallery]:
    from bot.telegram_bot.settings import TelegramSettings
    from bot.web.server import build_app
    from bot.web.settings import WebSettings

    with ServerThread(platforms.app()) as fake_url:
        # The gallery's own URL is known only once it listens: bind first, then build with it.
        holder: dict[str, Any] = {}
        server = ServerThread(_Deferred(holder))
        settings = WebSettings(
            public_url=server.url,
            session_secret=SECRET,
            discord_client_id=CLIENT_ID,
            discord_client_secret=CLIENT_SECRET,
            discord_api_base=f"{fake_url}/api",
            discord_authorize_url=f"{fake_url}/oauth2/authorize",
            telegram_bot_username="rapbot_test_bot",
            body_read_timeout_s=BODY_READ_TIMEOUT_S,
        )
        platforms.discord_redirect_uri = f"{server.url}/auth/discord/callback"
        telegram = TelegramSettings(token=TOKEN, base_url=f"{fake_url}/bot", base_file_url=f"{fake_url}/file/bot")
        holder["app"] = build_app(settings, web_client, telegram, close_client=False)
        with server as url:
            yield Gallery(url, web_client, platforms, holder["app"])


class _Deferred:
    """An ASGI app that forwards to the one put in `holder["app"]` after the port is known."""

    def __init__(self, holder: dict[str, Any]) -> None:
        self._holder = holder

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._holder["app"](scope, receive, send)


def discord_account(user_id: str = DAVE) -> DiscordAccount:
    return DiscordAccount(
        user={"id": user_id, "username": "dave", "global_name": "Dave"},
        guilds=[
            {"id": GUILD_MEMBER, "name": "Dave's Hangout", "owner": False, "permissions": "0"},
            {"id": GUILD_MOD, "name": "Mod Guild", "owner": False, "permissions": str(MANAGE_GUILD)},
            {"id": GUILD_UNKNOWN, "name": "No Memory Here", "owner": True, "permissions": "8"},
        ],
    )
