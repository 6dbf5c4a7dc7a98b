"""Fixtures of the Telegram tests: a fake Bot API server, the real application polling it, the
in-process worker client over a fresh database with the tiny model profile, and real photos."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PIL import Image
from sqlalchemy.engine import make_url
from telegram_fake_api import FakeBotApi
from telegram_harness import TOKEN, Harness, make_settings

from bot.telegram_bot.app import build_application
from worker.client import RapClient


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Real photos from scikit-image as JPEG, a PNG, and damaged data."""
    from skimage import data

    found: dict[str, bytes] = {}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        buffer = io.BytesIO()
        Image.fromarray(getattr(data, name)()).convert("RGB").save(buffer, format="JPEG", quality=90)
        found[name] = buffer.getvalue()
    png = io.BytesIO()
    Image.fromarray(data.chelsea()).save(png, format="PNG")
    found["chelsea_png"] = png.getvalue()
    found["corrupt"] = found["coffee"][: len(found["coffee"]) // 3]
    return found


@pytest.fixture
async def client(database_url: str, tiny_models: Any, pg_server: Any) -> AsyncIterator[RapClient]:
    """The in-process worker client on a fresh migrated database, dropped afterwards (so the
    session's Postgres does not flush every test's pages when it stops)."""
    from memory.settings import MemorySettings
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    opened = LocalClient.open(WorkerSettings(), MemorySettings(database_url=database_url), bundle=tiny_models)
    try:
        yield opened
    finally:
        await opened.close()
        pg_server.psql(f"DROP DATABASE IF EXISTS {make_url(database_url).database} WITH (FORCE);")


@pytest.fixture
def telegram_settings_overrides() -> dict[str, Any]:
    """Tests override this fixture to change a setting of the bot under test."""
    return {}


@pytest.fixture
async def bot(
    client: RapClient, telegram_settings_overrides: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Harness]:
    """The real application, polling the fake server over HTTP."""
    caplog.set_level(logging.INFO)
    async with FakeBotApi(TOKEN) as api:
        application = build_application(make_settings(api, **telegram_settings_overrides), client)
        async with application:
            # What run_polling does before polling: post_init (the command menu), then start.
            assert application.post_init is not None
            await application.post_init(application)
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(
                poll_interval=0.0, timeout=1, allowed_updates=["message", "callback_query", "chat_member"]
            )
            try:
                yield Harness(api, application)
            finally:
                await application.updater.stop()
                await application.stop()
