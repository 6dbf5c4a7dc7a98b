"""A fake Telegram Bot API server for tests: a real HTTP server on 127.0.0.1 (random port) that
answers the methods rapbot's Telegram frontend calls, feeds queued update JSON to getUpdates, serves
uploaded files, and records every call so a test can read what the bot did."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# The rights an administrator's ChatMember carries in Bot API JSON (fake server and update builders).
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


BOT_ID = 7000001
BOT_USERNAME = "rapbot_test_bot"


@dataclass
class Call:
    """One request the bot made: the method, its parameters (JSON-decoded where possible) and any
    uploaded files (field name -> bytes)."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    failed: bool = False  # answered with an injected error (fail_next), so nothing reached the chat

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None


def _decode(value: str) -> Any:
    # PTB sends strings as-is and everything else JSON-encoded.
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


class FakeBotApi:
    """Use as `async with FakeBotApi(token) as api:`; then `api.base_url` / `api.base_file_url`."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}  # file_id -> content
        self.file_sizes: dict[str, int] = {}  # file_id -> size the API reports (may exceed content)
        self.chat_members: dict[tuple[int, int], str] = {}  # (chat_id, user_id) -> status
        self.faults: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # method -> queued error replies
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100_000)
        self._file_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._new_call = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> FakeBotApi:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the random port the OS picked
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- what tests feed in ------------------------------------------------------------------
    def add_file(self, content: bytes, *, reported_size: int | None = None) -> str:
        file_id = f"file{next(self._file_ids)}"
        self.files[file_id] = content
        self.file_sizes[file_id] = len(content) if reported_size is None else reported_size
        return file_id

    def push_update(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self._new_update.set()
        return update_id

    def next_message_id(self) -> int:
        return next(self._message_ids)

    def fail_next(self, method: str, status: int, description: str, retry_after: int | None = None) -> None:
        """The next call of `method` gets this error reply (429 with retry_after, 502, ...)."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.faults.setdefault(method, []).append((status, body))

    # ---- what tests read back ----------------------------------------------------------------
    def calls_to(self, method: str, chat_id: int | None = None) -> list[Call]:
        """Every call of `method` (into `chat_id`), including those answered with an injected error."""
        return [c for c in self.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def sent_texts(self, chat_id: int) -> list[str]:
        """Every text the bot showed in this chat: messages, photo captions, edited texts."""
        texts = []
        for call in self.calls:
            if call.chat_id != chat_id or call.failed:
                continue
            if call.method in ("sendMessage", "editMessageText"):
                texts.append(str(call.params.get("text", "")))
            elif call.method in ("sendPhoto", "sendDocument") and call.params.get("caption"):
                texts.append(str(call.params["caption"]))
        return texts

    async def wait_for(
        self, predicate: Callable[[FakeBotApi], Any], timeout: float = 120.0, what: str = "a bot call"
    ) -> Any:
        """Wait until `predicate(self)` is truthy and return its value (fails with the call log)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log = "\n".join(f"  {c.method} {c.params}" for c in self.calls[-30:])
                raise AssertionError(f"timed out waiting for {what}; last calls:\n{log}")
            self._new_call.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_call.wait(), timeout=min(remaining, 0.5))

    async def wait_for_replies(self, chat_id: int, count_before: int, timeout: float = 120.0) -> list[str]:
        """Wait for at least one new text in `chat_id` after `count_before` texts, then return the new ones."""
        await self.wait_for(lambda api: len(api.sent_texts(chat_id)) > count_before, timeout, f"a reply in {chat_id}")
        return self.sent_texts(chat_id)[count_before:]

    # ---- HTTP handlers -----------------------------------------------------------------------
    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.filename is not None:  # type: ignore[union-attr]
                    files[part.name or ""] = await part.read()  # type: ignore[union-attr]
                else:
                    params[part.name or ""] = _decode(await part.text())  # type: ignore[union-attr]
        elif request.can_read_body:
            form = await request.post()
            params.update({k: _decode(v) for k, v in form.items() if isinstance(v, str)})
        return params, files

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params, files = await self._params(request)
        queued = self.faults.get(method)
        if method != "getUpdates":
            self.calls.append(Call(method, params, files, failed=bool(queued)))
            self._new_call.set()
        if queued:
            status, body = queued.pop(0)
            return web.json_response(body, status=status)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        result = await handler(params, files)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    # ---- Bot API methods ---------------------------------------------------------------------
    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "RAP bot",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        chat_id = int(chat_id)
        return {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}

    def _sent(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        return {
            "message_id": self.next_message_id(),
            "date": int(time.time()),
            "chat": self._chat(params["chat_id"]),
            "from": self._bot_user(),
            **content,
        }

    async def _api_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self._bot_user()

    async def _api_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            timeout = min(float(params.get("timeout") or 0), 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout=timeout)
        return self._updates[:100]

    async def _api_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}),
                content_type="application/json",
            )
        size = self.file_sizes[file_id]
        if size > 20 * 1024 * 1024:
            raise web.HTTPBadRequest(
                text=json.dumps({"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}),
                content_type="application/json",
            )
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size, "file_path": f"f/{file_id}"}

    async def _api_getChatMember(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = self.chat_members.get((chat_id, user_id), "member")
        member: dict[str, Any] = {"status": status, "user": {"id": user_id, "is_bot": False, "first_name": "U"}}
        if status == "administrator":
            member.update(ADMIN_RIGHTS)
        elif status == "creator":
            member.update(is_anonymous=False)
        return member

    async def _api_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self._sent(params, text=params.get("text", ""))

    async def _api_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = self.add_file(next(iter(files.values()), b""))
        photo = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 100, "height": 100}]
        return self._sent(params, photo=photo, caption=params.get("caption"))

    async def _api_sendDocument(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        file_id = self.add_file(next(iter(files.values()), b""))
        return self._sent(params, document={"file_id": file_id, "file_unique_id": f"u{file_id}"})

    async def _api_sendMediaGroup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        messages = []
        for content in files.values():
            file_id = self.add_file(content)
            photo = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 100, "height": 100}]
            messages.append(self._sent(params, photo=photo))
        return messages

    async def _api_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self._sent(params, text=params.get("text", ""))

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_editMessageCaption(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_sendChatAction(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_setMyCommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _api_deleteMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True


@contextlib.contextmanager
def serve_in_thread(token: str) -> Iterator[FakeBotApi]:
    """The fake server on its own event loop in a thread, for code that runs its own loop
    (Application.run_polling)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, FakeBotApi] = {}
    stop = asyncio.Event()

    async def serve() -> None:
        async with FakeBotApi(token) as api:
            holder["api"] = api
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(timeout=30)
    try:
        yield holder["api"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
