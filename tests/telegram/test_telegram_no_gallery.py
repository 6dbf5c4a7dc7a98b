"""/gallery where the operator runs no gallery (RAPBOT_WEB_PUBLIC_URL unset): a clear reply, no button."""

from __future__ import annotations

from typing import Any

import pytest
from telegram_harness import Harness


@pytest.fixture
def telegram_settings_overrides(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("RAPBOT_WEB_PUBLIC_URL", raising=False)
    return {}


async def test_gallery_says_it_is_not_set_up(bot: Harness) -> None:
    ann = bot.chatter(311)
    said = await bot.send(ann.text, "/gallery")
    assert said[-1].startswith("The photo gallery is not set up on this bot."), said
    assert not any(call.params.get("reply_markup") for call in bot.api.calls_to("sendMessage", ann.chat_id))
