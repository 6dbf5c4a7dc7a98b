"""Test servers on loopback: any ASGI app served by uvicorn in a thread, and a fake of the two
platforms the gallery asks (the Telegram Bot API's getMe / getChatMember / getChat, Discord's OAuth2
token endpoint, /users/@me and /users/@me/guilds), driven by plain dictionaries a test fills."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

BOT_ID = 7000001
ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}


class ServerThread:
    """`with ServerThread(app) as url:` serves `app` on 127.0.0.1 (a free port) until the block ends."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


@dataclass
class DiscordAccount:
    user: dict[str, Any]
    guilds: list[dict[str, Any]]


@dataclass
class FakePlatforms:
    """What the platforms answer. chat_members: (chat id, user id) -> status ("member",
    "administrator", "creator"); chat_titles: chat id -> title; discord_codes: OAuth code -> account."""

    telegram_token: str
    discord_client_id: str
    discord_client_secret: str
    discord_redirect_uri: str = ""
    chat_members: dict[tuple[int, int], str] = field(default_factory=dict)
    chat_titles: dict[int, str] = field(default_factory=dict)
    discord_codes: dict[str, DiscordAccount] = field(default_factory=dict)
    telegram_calls: list[str] = field(default_factory=list)
    _tokens: dict[str, DiscordAccount] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/bot{token}/{method}")
        async def bot_api(token: str, method: str, request: Request) -> JSONResponse:
            if token != self.telegram_token:
                return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
            params = dict(await request.form()) if await request.body() else {}
            self.telegram_calls.append(method)
            if method == "getMe":
                return _ok({"id": BOT_ID, "is_bot": True, "first_name": "rapbot", "username": "rapbot_test_bot"})
            chat_id = int(str(params.get("chat_id", "0")))
            if method == "getChat":
                title = self.chat_titles.get(chat_id, "a group")
                return _ok(
                    {
                        "id": chat_id,
                        "type": "supergroup",
                        "title": title,
                        "accent_color_id": 0,
                        "max_reaction_count": 11,
                    }
                )
            if method == "getChatMember":
                user_id = int(str(params.get("user_id", "0")))
                status = self.chat_members.get((chat_id, user_id))
                if status is None:
                    return JSONResponse(
                        {"ok": False, "error_code": 400, "description": "Bad Request: user not found"}, 400
                    )
                member: dict[str, Any] = {"status": status, "user": {"id": user_id, "is_bot": False, "first_name": "u"}}
                if status == "administrator":
                    member.update(ADMIN_RIGHTS)
                if status == "creator":
                    member["is_anonymous"] = False
                return _ok(member)
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

        @app.post("/api/oauth2/token")
        async def token(request: Request) -> JSONResponse:
            form = await request.form()
            import base64

            basic = request.headers.get("authorization", "").removeprefix("Basic ")
            client = base64.b64decode(basic).decode() if basic else ""
            account = self.discord_codes.pop(str(form.get("code")), None)
            if (
                client != f"{self.discord_client_id}:{self.discord_client_secret}"
                or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != self.discord_redirect_uri
                or account is None
            ):
                return JSONResponse({"error": "invalid_grant"}, 400)
            access = f"access-{account.user['id']}-{len(self._tokens)}"
            self._tokens[access] = account
            return JSONResponse({"access_token": access, "token_type": "Bearer", "scope": "identify guilds"})

        def account_of(request: Request) -> DiscordAccount | None:
            return self._tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))

        @app.get("/api/users/@me")
        async def me(request: Request) -> JSONResponse:
            account = account_of(request)
            return JSONResponse(account.user) if account else JSONResponse({"message": "401: Unauthorized"}, 401)

        @app.get("/api/users/@me/guilds")
        async def guilds(request: Request) -> JSONResponse:
            account = account_of(request)
            return JSONResponse(account.guilds) if account else JSONResponse({"message": "401: Unauthorized"}, 401)

        return app


def _ok(result: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})
