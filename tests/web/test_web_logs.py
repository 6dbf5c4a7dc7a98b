"""No secret in any log line: every sign-in path of the gallery is driven over real HTTP with every
logger at DEBUG (uvicorn's access and error logs, httpx, httpcore, python-telegram-bot, ours), and
no line holds any secret value used: the bot token, the session secret, Discord's client secret,
code, state and access token, the Mini App initData and its hash, the Login Widget's hash, the
console link's token, the session cookie."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from web_testkit import ALICE, BOB, CLIENT_SECRET, SECRET, TOKEN, Gallery, discord_account, init_data, widget_params

LOGGERS = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "httpx", "httpcore", "telegram", "bot", "worker")


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logged() -> Iterator[Lines]:
    handler = Lines()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_no_sign_in_path_logs_a_secret(gallery: Gallery, logged: Lines) -> None:
    from bot.web.console_signin import sign_in_link
    from bot.web.settings import WebSettings
    from worker.schemas import Requester

    secrets = {"bot token": TOKEN, "session secret": SECRET, "client secret": CLIENT_SECRET}

    # Telegram Mini App
    mini_app = gallery.browser()
    data = init_data(ALICE)
    secrets["initData"] = data
    secrets["initData hash"] = parse_qs(data)["hash"][0]
    assert gallery.post_init_data(mini_app, data).status_code == 200
    assert mini_app.get("/").status_code == 200  # membership lookups: getChatMember, getChat
    secrets["session cookie"] = mini_app.cookies["rapbot_session"]

    # Telegram Login Widget
    widget = gallery.browser()
    params = widget_params(BOB)
    secrets["widget hash"] = params["hash"]
    assert gallery.widget_sign_in(widget, params).status_code == 303

    # Discord OAuth2
    discord = gallery.browser()
    state = parse_qs(urlsplit(discord.get("/auth/discord").headers["location"]).query)["state"][0]
    gallery.platforms.discord_codes["logged-code-7f3a9"] = discord_account()
    callback = discord.get("/auth/discord/callback", params={"code": "logged-code-7f3a9", "state": state})
    assert callback.status_code == 303
    secrets["discord code"], secrets["oauth state"] = "logged-code-7f3a9", state
    secrets.update({f"access token {i}": token for i, token in enumerate(gallery.platforms._tokens)})

    # The console's sign-in link, used once and then again
    link = sign_in_link(
        WebSettings(public_url=gallery.url, session_secret=SECRET), Requester(platform="console", user_id="logs")
    )
    assert link is not None
    secrets["console token"] = parse_qs(urlsplit(link).query)["token"][0]
    console = gallery.browser()
    assert console.get(link).status_code == 303
    assert gallery.browser().get(link).status_code == 403

    # Sign-outs
    for http in (mini_app, widget, discord, console):
        assert http.post("/logout", data={"csrf_token": gallery.csrf(http)}).status_code == 303

    assert any("/auth/console" in line for line in logged.lines), "the access log was not captured"
    assert any("getChatMember" in line for line in logged.lines), "the Bot API calls were not captured"
    for what, value in secrets.items():
        leaked = [line for line in logged.lines if value in line]
        assert not leaked, f"the {what} is in the logs: {leaked[:2]}"
