"""Over HTTP with the fake Bot API: a reply Telegram refuses after a change was made, numbers and
lengths out of range, an album /addphoto that only partly fits, and start-up failures that must
end `rapbot telegram` with one clear line (a 400 from the server, the database down, bad URLs)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram_fake_api import serve_in_thread
from telegram_harness import TOKEN, Harness, make_settings
from test_telegram_private import remember_whole

from bot.telegram_bot.app import run

REPO = Path(__file__).resolve().parents[2]


async def test_a_reply_refused_after_a_change_does_not_claim_nothing_changed(
    bot: Harness, photos: dict[str, bytes]
) -> None:
    ann = bot.chatter(701)
    assert any("remembered <bo>" in r for r in await remember_whole(bot, ann, photos["chelsea"], "/remember bo: cat"))
    bot.api.fail_next("sendMessage", 400, "Bad Request: message to be replied not found")
    told = await bot.send(ann.text, "/edit bo: my cat, now with a bell")
    assert "could not send my reply" in told[0] and "/show bo tells" in told[0], told
    assert "nothing was changed" not in told[0].lower()
    assert "now with a bell" in (await bot.send(ann.text, "/show bo"))[-1], "the change was made"

    # A command that changes nothing may say so when its reply fails.
    bot.api.fail_next("sendMessage", 400, "Bad Request: message to be replied not found")
    told = await bot.send(ann.text, "/concepts")
    assert "nothing was changed" in told[0]


async def test_numbers_and_lengths_out_of_range(bot: Harness) -> None:
    ann = bot.chatter(702)
    assert "page numbers go up to 100,000" in (await bot.send(ann.text, "/concepts 99999999999999999999"))[0]
    assert "that question is too long: 3,000" in (await bot.send(ann.text, "q" * 3000))[0]
    assert "a name can have at most 64" in (await bot.send(ann.text, "/forget " + "n" * 65))[0]


@pytest.fixture
def two_photos_per_concept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPBOT_MAX_VIEWS_PER_CONCEPT", "2")


@pytest.mark.usefixtures("two_photos_per_concept")
async def test_an_album_addphoto_says_what_was_added_and_what_was_not(
    two_photos_per_concept: None, bot: Harness, photos: dict[str, bytes]
) -> None:
    ann = bot.chatter(703)
    assert any(
        "remembered <kitty>" in r for r in await remember_whole(bot, ann, photos["chelsea"], "/remember kitty: x")
    )
    before = len(bot.api.sent_texts(ann.chat_id))
    ann.photo(photos["coffee"], caption="/addphoto kitty", media_group_id="full")
    ann.photo(photos["rocket"], media_group_id="full")
    ann.photo(photos["astronaut"], media_group_id="full")
    added = (await bot.api.wait_for_replies(ann.chat_id, before))[0]
    assert added.startswith("added 1 of 3 photos to <kitty>") and "[2 photos]" in added, added
    assert "photo 2 not added:" in added and "already has 2 photos" in added, added
    assert "not tried: photo 3 " in added, added


# ---------------------------------------------------------------- start-up


@pytest.fixture
def local_client(database_url: str, tiny_models: Any) -> Iterator[Any]:
    from memory.settings import MemorySettings
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    yield LocalClient.open(WorkerSettings(), MemorySettings(database_url=database_url), bundle=tiny_models)


def test_a_bot_api_server_answering_400_is_not_called_unreachable(
    local_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with serve_in_thread(TOKEN) as api, pytest.raises(SystemExit) as ended:
        api.fail_next("getMe", 400, "Bad Request: bot is not allowed here")
        run(make_settings(api, max_retries=0), local_client)
    message = str(ended.value)
    assert "cannot reach" not in message
    assert f"the Bot API server (http://127.0.0.1:{api.port}) refused to start the bot" in message
    assert "it answered 400 Bad Request: 'Bot is not allowed here'" in message and TOKEN not in message
    assert "\n" not in message
    assert not [r for r in caplog.records if r.exc_info], "no traceback besides the one line"


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("RAPBOT_REDIS_URL", "redis://:pw@127.0.0.1:abc/0", "RAPBOT_REDIS_URL has a malformed port"),
        ("RAPBOT_DATABASE_URL", "mysql://u:pw@db/x", "RAPBOT_DATABASE_URL must be a URL starting with postgresql://"),
        ("RAPBOT_TELEGRAM_BASE_URL", "http://127.0.0.1:99999/bot", "RAPBOT_TELEGRAM_BASE_URL: has a malformed port"),
    ],
)
def test_malformed_urls_name_their_setting(
    setting: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPBOT_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv(setting, value)
    with pytest.raises(SystemExit) as ended:
        run()
    assert expected in str(ended.value) and "pw" not in str(ended.value) and TOKEN not in str(ended.value)


def test_rapbot_telegram_with_the_database_down_prints_one_line(unused_tcp_port: int) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RAPBOT_TELEGRAM_TOKEN": TOKEN,
        "RAPBOT_DATABASE_URL": f"postgresql+psycopg://rapbot:s3cret@127.0.0.1:{unused_tcp_port}/rapbot",
    }
    env.pop("RAPBOT_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "rapbot", "telegram"], capture_output=True, text=True, cwd=REPO, env=env, timeout=240
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rapbot telegram: the memory database is not reachable") and "RAPBOT_DATABASE_URL" in last
    # Before it, at most the two log lines of the store and the worker that met the failure.
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 3, done.stderr
    assert "s3cret" not in done.stderr and TOKEN not in done.stderr
