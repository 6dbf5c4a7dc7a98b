"""Fixtures of the Discord tests: real photos from scikit-image, the real in-process worker client
(tiny profile) on a fresh migrated database, and the bot's command cogs over it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from discord_gateway import FakeDiscord
from PIL import Image

from bot.discord_bot.app import RapBot
from bot.discord_bot.commands import MemoryCommands
from bot.discord_bot.frontend import Frontend
from bot.discord_bot.moderation import ModeratorCommands
from bot.discord_bot.settings import DiscordSettings

if TYPE_CHECKING:
    from model.types import ModelBundle
    from worker.client import RapClient


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Real photos as JPEG bytes: astronaut, chelsea the cat, coffee, rocket."""
    from skimage import data

    result: dict[str, bytes] = {}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        buffer = io.BytesIO()
        Image.fromarray(getattr(data, name)()).save(buffer, format="JPEG", quality=90)
        result[name] = buffer.getvalue()
    return result


@pytest.fixture
def discord_settings() -> DiscordSettings:
    return DiscordSettings(
        token=None, moderator_role="Memory Keepers", sync_commands=False, max_attachment_bytes=2_000_000
    )


@pytest.fixture
async def rap_client(
    database_url: str, tiny_models: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RapClient]:
    """The in-process client over a fresh database and the session's tiny networks."""
    from worker.transport.local import LocalClient

    monkeypatch.setenv("RAPBOT_DATABASE_URL", database_url)
    monkeypatch.delenv("RAPBOT_REDIS_URL", raising=False)
    client = LocalClient.open(bundle=tiny_models)
    yield client
    await client.close()


@pytest.fixture
def frontend(discord_settings: DiscordSettings, rap_client: RapClient) -> Frontend:
    return Frontend.create(discord_settings, rap_client)


@pytest.fixture
def cmds(frontend: Frontend) -> MemoryCommands:
    return MemoryCommands(frontend)


@pytest.fixture
def mods(frontend: Frontend) -> ModeratorCommands:
    return ModeratorCommands(frontend)


@pytest.fixture
async def gateway(frontend: Frontend) -> FakeDiscord:
    """The bot as `rapbot discord` assembles it (every cog on its command tree), reached through a
    stand-in for Discord that delivers real interaction payloads (see discord_gateway.py)."""
    bot = RapBot(frontend)
    await bot.add_rapbot_cogs()
    return await FakeDiscord.start(bot)
