"""The test harness: the fake Bot API server and the running application, and helpers to read
the buttons the bot sent."""

from __future__ import annotations

from typing import Any

from telegram_fake_api import FakeBotApi
from telegram_updates import Chatter

from bot.telegram_bot.settings import TelegramSettings

TOKEN = "123456:TEST-secret-token-value"


class Harness:
    """The fake server plus the running application; `chatter()` makes people who send updates."""

    def __init__(self, api: FakeBotApi, application: Any) -> None:
        self.api = api
        self.application = application

    def chatter(self, user_id: int, chat_id: int | None = None, name: str = "Ann") -> Chatter:
        return Chatter(self.api, user_id, chat_id, name)

    async def send(self, send: Any, *args: Any, **kwargs: Any) -> list[str]:
        """Send one update through `send` (a Chatter method) and wait for the bot's new texts."""
        chat_id = send.__self__.chat_id
        before = len(self.api.sent_texts(chat_id))
        send(*args, **kwargs)
        return await self.api.wait_for_replies(chat_id, before)

    async def last_with_keyboard(self, chat_id: int) -> dict[str, Any]:
        """The parameters of the newest message the bot sent with an inline keyboard into this chat."""

        def find(api: FakeBotApi) -> dict[str, Any] | None:
            for call in reversed(api.calls):
                if (
                    call.chat_id == chat_id
                    and call.method in ("sendMessage", "sendPhoto")
                    and call.params.get("reply_markup")
                ):
                    return call.params
            return None

        found: dict[str, Any] = await self.api.wait_for(find, what="a message with buttons")
        return found


def button_data(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, callback data) of every button under a sent message."""
    markup = params["reply_markup"]
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


def make_settings(api: FakeBotApi, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "base_url": api.base_url,
        "base_file_url": api.base_file_url,
        "album_wait_s": 0.5,
        "max_retries": 3,
        **overrides,
    }
    return TelegramSettings(**values)
