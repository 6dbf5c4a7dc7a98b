"""Builders of real Bot API update JSON (the shapes Telegram sends), for the fake server's queue."""

from __future__ import annotations

import time
from typing import Any

from telegram_fake_api import ADMIN_RIGHTS, BOT_ID, BOT_USERNAME, FakeBotApi


def user(user_id: int, name: str = "Ann") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "username": f"{name.lower()}{user_id}"}


def private_chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "type": "private", "first_name": "U"}


def group_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "supergroup", "title": "Friends"}


def _command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    length = len(text.split()[0]) if text.split() else 1
    return [{"type": "bot_command", "offset": 0, "length": length}]


def _mention_entities(text: str) -> list[dict[str, Any]]:
    mention = f"@{BOT_USERNAME}"
    at = text.find(mention)
    return [{"type": "mention", "offset": at, "length": len(mention)}] if at >= 0 and not text.startswith("/") else []


class Chatter:
    """One person in one chat: builds messages from them with fresh message ids."""

    def __init__(self, api: FakeBotApi, user_id: int, chat_id: int | None = None, name: str = "Ann") -> None:
        self.api = api
        self.user = user(user_id, name)
        self.chat = private_chat(user_id) if chat_id is None else group_chat(chat_id)
        self.chat_id = self.chat["id"]

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self.api.next_message_id(),
            "date": int(time.time()),
            "chat": self.chat,
            "from": self.user,
            **content,
        }

    def raw(self, **content: Any) -> dict[str, Any]:
        """Any other kind of message (location, voice...): its content fields as the Bot API names them."""
        message = self._message(**content)
        self.api.push_update({"message": message})
        return message

    def text(self, text: str, reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        message = self._message(text=text, entities=_command_entities(text) + _mention_entities(text))
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        self.api.push_update({"message": message})
        return message

    def photo(
        self, content: bytes, caption: str | None = None, media_group_id: str | None = None, size: int | None = None
    ) -> dict[str, Any]:
        file_id = self.api.add_file(content, reported_size=size)
        sizes = [{"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 512, "height": 512}]
        sizes[0]["file_size"] = len(content) if size is None else size
        message = self._message(photo=sizes)
        if caption is not None:
            message["caption"] = caption
            message["caption_entities"] = _command_entities(caption) + _mention_entities(caption)
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        self.api.push_update({"message": message})
        return message

    def document(self, content: bytes, mime_type: str, file_name: str, size: int | None = None) -> dict[str, Any]:
        file_id = self.api.add_file(content, reported_size=size)
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(content) if size is None else size,
        }
        message = self._message(document=document)
        self.api.push_update({"message": message})
        return message

    def sticker(self) -> dict[str, Any]:
        sticker = {
            "file_id": "sticker1",
            "file_unique_id": "us1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        message = self._message(sticker=sticker)
        self.api.push_update({"message": message})
        return message

    def animation(self) -> dict[str, Any]:
        animation = {"file_id": "anim1", "file_unique_id": "ua1", "width": 320, "height": 240, "duration": 2}
        # Telegram sends an animation with a document field as well.
        message = self._message(
            animation=animation, document={"file_id": "anim1", "file_unique_id": "ua1", "mime_type": "video/mp4"}
        )
        self.api.push_update({"message": message})
        return message

    def press(self, bot_message_call_params: dict[str, Any], data: str, message_id: int = 1) -> None:
        """Press an inline button under a message the bot sent into this chat."""
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "RAP bot", "username": BOT_USERNAME},
            "text": str(bot_message_call_params.get("text") or bot_message_call_params.get("caption") or ""),
        }
        query = {"id": f"cb{self.api.next_message_id()}", "from": self.user, "chat_instance": "ci", "data": data}
        query["message"] = message
        self.api.push_update({"callback_query": query})


def bot_message(chat: dict[str, Any], text: str = "", photo: bool = False) -> dict[str, Any]:
    """A message the bot sent earlier, to reply to."""
    message: dict[str, Any] = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": chat,
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "RAP bot", "username": BOT_USERNAME},
    }
    if text:
        message["text"] = text
    return message


def chat_member_update(chat_id: int, user_id: int, old: str, new: str) -> dict[str, Any]:
    def member(status: str) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status, "user": user(user_id)}
        if status == "administrator":
            body.update(ADMIN_RIGHTS)
        return body

    return {
        "chat_member": {
            "chat": group_chat(chat_id),
            "from": user(1),
            "date": int(time.time()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
    }
