"""Albums: Telegram delivers each photo of an album as its own message sharing a media_group_id,
usually with the caption on one of them only. Collect them for a moment, then act once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from telegram import Message
from telegram.ext import Application

AlbumHandler = Callable[[Application, list[Message]], Awaitable[None]]  # type: ignore[type-arg]


class AlbumCollector:
    def __init__(self, wait_s: float, on_album: AlbumHandler) -> None:
        self._wait_s = wait_s
        self._on_album = on_album
        self._open: dict[tuple[int, str], list[Message]] = {}

    def add(self, application: Application, message: Message) -> None:  # type: ignore[type-arg]
        assert message.media_group_id is not None
        key = (message.chat.id, message.media_group_id)
        if key not in self._open:
            self._open[key] = []
            application.create_task(self._flush_later(application, key), name=f"album {message.media_group_id}")
        self._open[key].append(message)

    async def _flush_later(self, application: Application, key: tuple[int, str]) -> None:  # type: ignore[type-arg]
        await asyncio.sleep(self._wait_s)
        messages = sorted(self._open.pop(key, []), key=lambda m: m.message_id)
        if messages:
            await self._on_album(application, messages)
