"""The transport: flood control and network errors are retried, the token never reaches the logs,
long replies are split, and settings refuse bad values with a clear message."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError
from telegram_fake_api import FakeBotApi, serve_in_thread
from telegram_harness import TOKEN, Harness, make_settings
from telegram_updates import Chatter

from bot.telegram_bot.app import build_application, run, webhook_options
from bot.telegram_bot.sending import split_text
from bot.telegram_bot.settings import TelegramSettings


async def test_flood_control_and_network_errors_are_retried(bot: Harness) -> None:
    ann = bot.chatter(401)
    bot.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    bot.api.fail_next("sendMessage", 502, "Bad Gateway")
    replies = await bot.send(ann.text, "/start")
    assert "/remember bo:" in replies[0], "the reply arrives despite a 429 and a 502"
    assert len(bot.api.calls_to("sendMessage", ann.chat_id)) == 3, "two failures, then the delivered reply"


async def test_the_token_never_appears_in_logs(
    bot: Harness, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    # httpx logs every request URL, and Bot API URLs hold the token: turn it on to prove the filter.
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.setLevel(logging.INFO)
    request.addfinalizer(lambda: httpx_logger.setLevel(logging.WARNING))
    ann = bot.chatter(402)
    await bot.send(ann.text, "/help")
    bot.api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    ann.text("/start")
    await bot.api.wait_for(lambda api: len(api.calls_to("sendMessage", ann.chat_id)) >= 3, what="the failed reply")
    await bot.api.wait_for(lambda api: "update failed" in caplog.text, what="the error log line")
    assert "/getUpdates" in caplog.text and "[redacted]" in caplog.text, "the URLs were logged, redacted"
    assert "sorry, something went wrong" in bot.api.sent_texts(ann.chat_id)[-1], "the user is told, without details"
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


def test_long_replies_are_split_at_telegrams_limit() -> None:
    text = "\n".join(f"line {i}: " + "word " * 30 for i in range(100))  # about 16 000 characters
    pieces = split_text(text)
    assert len(pieces) == 4 and all(len(p) <= 4096 for p in pieces)
    assert " ".join(" ".join(p.split()) for p in pieces) == " ".join(text.split()), "nothing lost"
    assert all(p.startswith("line ") for p in pieces), "cut at line breaks"
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]


def test_settings_read_ids_and_refuse_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPBOT_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("RAPBOT_TELEGRAM_OWNER_IDS", "11, 12")
    monkeypatch.setenv("RAPBOT_TELEGRAM_ALLOWED_USERS", "13")
    settings = TelegramSettings()
    assert settings.owner_ids == {11, 12} and settings.allowed_users == {13}
    assert TOKEN not in repr(settings) and settings.require_token() == TOKEN

    monkeypatch.setenv("RAPBOT_TELEGRAM_OWNER_IDS", "alice")
    with pytest.raises(ValidationError, match="numeric Telegram user ids"):
        TelegramSettings()
    with pytest.raises(SystemExit) as ended:  # `rapbot telegram` names the variable, never the token
        run()
    assert "RAPBOT_TELEGRAM_OWNER_IDS: must be a comma-separated list of numeric" in str(ended.value)
    assert TOKEN not in str(ended.value)
    monkeypatch.delenv("RAPBOT_TELEGRAM_OWNER_IDS")
    monkeypatch.setenv("RAPBOT_TELEGRAM_WEBHOOK_URL", "http://example.org/hook")
    with pytest.raises(SystemExit) as ended:
        run()
    assert "RAPBOT_TELEGRAM_WEBHOOK_URL: must be an https:// URL" in str(ended.value)
    assert TOKEN not in str(ended.value)
    monkeypatch.delenv("RAPBOT_TELEGRAM_WEBHOOK_URL")
    monkeypatch.delenv("RAPBOT_TELEGRAM_TOKEN")
    with pytest.raises(ValueError, match="BotFather"):
        TelegramSettings(_env_file=None).require_token()  # type: ignore[call-arg]


@pytest.mark.parametrize("telegram_settings_overrides", [{"allowed_users": frozenset({501})}])
async def test_allow_list_keeps_strangers_out(bot: Harness) -> None:
    stranger, friend = bot.chatter(502), bot.chatter(501)
    assert "allow-list" in (await bot.send(stranger.text, "/concepts"))[0]
    assert "I remember nothing" in (await bot.send(friend.text, "/concepts"))[0]


def test_a_rejected_token_ends_the_bot_with_a_clear_message_without_the_token(
    database_url: str, tiny_models: object
) -> None:
    from memory.settings import MemorySettings
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    wrong = "999999:WRONG-token-that-must-stay-secret"
    client = LocalClient.open(WorkerSettings(), MemorySettings(database_url=database_url), bundle=tiny_models)  # type: ignore[arg-type]
    with serve_in_thread(TOKEN) as api, pytest.raises(SystemExit) as ended:
        run(make_settings(api, token=wrong), client)
    message = str(ended.value)
    assert "rejected RAPBOT_TELEGRAM_TOKEN" in message and "@BotFather" in message
    assert wrong not in message and "WRONG" not in message


def test_an_unreachable_bot_api_ends_the_bot_with_a_clear_message(
    database_url: str, tiny_models: object, unused_tcp_port: int
) -> None:
    from bot.telegram_bot.settings import TelegramSettings
    from memory.settings import MemorySettings
    from worker.settings import WorkerSettings
    from worker.transport.local import LocalClient

    nowhere = f"http://127.0.0.1:{unused_tcp_port}"  # nothing listens there
    settings = TelegramSettings(
        token=TOKEN, base_url=f"{nowhere}/bot", base_file_url=f"{nowhere}/file/bot", max_retries=0
    )
    client = LocalClient.open(WorkerSettings(), MemorySettings(database_url=database_url), bundle=tiny_models)  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as ended:
        run(settings, client)
    message = str(ended.value)
    assert f"cannot reach the Bot API server ({nowhere})" in message
    assert "RAPBOT_TELEGRAM_BASE_URL" in message and TOKEN not in message


async def test_webhook_mode_accepts_only_requests_with_the_secret(client: object, unused_tcp_port: int) -> None:
    import aiohttp

    async with FakeBotApi(TOKEN) as api:
        settings = make_settings(
            api,
            webhook_url="https://bot.example.org/",
            webhook_listen="127.0.0.1",
            webhook_port=unused_tcp_port,
            webhook_secret="s3cret-header-value",
        )
        application = build_application(settings, client)  # type: ignore[arg-type]
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_webhook(**webhook_options(settings))
            try:
                registered = api.calls_to("setWebhook")[-1].params
                assert registered["url"] == "https://bot.example.org/telegram"
                assert registered["secret_token"] == "s3cret-header-value"
                ann = Chatter(api, 601)
                ann.text("/start")  # queued for polling, which is off: post it as Telegram would
                update = api._updates.pop()
                url = f"http://127.0.0.1:{unused_tcp_port}/telegram"
                async with aiohttp.ClientSession() as session:
                    async with session.post(url, json=update) as refused:
                        assert refused.status == 403
                    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-header-value"}
                    async with session.post(url, json=update, headers=headers) as accepted:
                        assert accepted.status == 200
                replies = await api.wait_for_replies(ann.chat_id, 0)
                assert "/remember bo:" in replies[0]
                assert len(api.calls_to("sendMessage", ann.chat_id)) == 1, "the refused post was not handled"
            finally:
                await application.updater.stop()
                await application.stop()
