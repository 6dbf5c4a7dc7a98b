"""/gallery in Telegram: a Mini App button in a private chat (Telegram allows them only there), a
link to the group's memory in a group, and a plain "not set up" when the operator runs no gallery."""

from __future__ import annotations

from typing import Any

import pytest
from telegram_harness import Harness

GALLERY = "https://gallery.example.org"
GROUP = -100777


@pytest.fixture
def telegram_settings_overrides(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # The bot reads the gallery's public URL when it is built, after this fixture has run.
    monkeypatch.setenv("RAPBOT_WEB_PUBLIC_URL", GALLERY + "/")
    return {}


def only_button(params: dict[str, Any]) -> dict[str, Any]:
    [[button]] = params["reply_markup"]["inline_keyboard"]
    return dict(button)


async def test_gallery_opens_a_mini_app_in_private_and_a_link_in_a_group(bot: Harness) -> None:
    ann = bot.chatter(301)
    said = await bot.send(ann.text, "/gallery")
    assert said[-1] == f"This chat's memory as a photo gallery: {GALLERY}/m/me"
    button = only_button(await bot.last_with_keyboard(ann.chat_id))
    assert button["web_app"] == {"url": f"{GALLERY}/tg"} and "url" not in button

    member = bot.chatter(302, GROUP, "Mem")
    said = await bot.send(member.text, "/gallery")
    assert said[-1].endswith(f"{GALLERY}/m/g{GROUP}")
    button = only_button(await bot.last_with_keyboard(GROUP))
    assert button["url"] == f"{GALLERY}/m/g{GROUP}" and "web_app" not in button

    menus = [call.params for call in bot.api.calls_to("setMyCommands")]
    assert all(any(c["command"] == "gallery" for c in menu["commands"]) for menu in menus), menus
