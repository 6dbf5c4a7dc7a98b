"""No secret in any log line, at any level, by construction: every log record made in a process
that serves the gallery passes through `scrub` (a log record factory, so records of every logger
and library are covered: uvicorn, httpx, python-telegram-bot, ours). It

- drops the query string from uvicorn's access log lines (sign-in tokens, the Login Widget's
  hash, Discord's OAuth `code` and `state` travel there; concept names too);
- replaces the registered secret values (the bot token, the OAuth client secret, the session
  secret) wherever they appear, and a Bot API token in a URL (`/bot<id>:<token>/`);
- replaces the value of any `token=`, `hash=`, `code=`, `state=`, `init_data=`, `access_token=`,
  `client_secret=`, `nonce=` parameter in a message, and of any Cookie, Set-Cookie or
  Authorization header (httpcore logs response headers at DEBUG)."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

REDACTED = "[redacted]"
_BOT_TOKEN = re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{10,}")
_SECRET_PARAMS = re.compile(
    r"(?i)((?:^|[?&;\s\"'])(?:token|hash|code|state|init_data|initdata|access_token|client_secret|nonce)=)[^&\s\"';]+"
)
# A header's value in httpcore's DEBUG lines (`(b'set-cookie', b'...')`) or as text (`Cookie: ...`).
_SECRET_HEADERS = re.compile(r"(?i)((?:set-cookie|cookie|authorization)['\"]?\s*[,:=]\s*b?['\"]?)[^'\"\r\n]+")
_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def without_query(path: object) -> object:
    return path.split("?", 1)[0] if isinstance(path, str) else path


def redact(text: str) -> str:
    for secret in tuple(_secrets):
        text = text.replace(secret, REDACTED)
    text = _BOT_TOKEN.sub("bot" + REDACTED, text)
    text = _SECRET_HEADERS.sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRET_PARAMS.sub(lambda m: m.group(1) + REDACTED, text)


def scrub(record: logging.LogRecord) -> None:
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, version, status = record.args
        record.args = (client, method, without_query(path), version, status)
        return
    try:
        message = record.getMessage()
    except Exception:
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None


def install(*secret_values: str | None) -> None:
    """Register secret values to redact and install the record factory (once per process)."""
    global _installed
    with _lock:
        _secrets.update(value for value in secret_values if value and len(value) >= 8)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            scrub(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
