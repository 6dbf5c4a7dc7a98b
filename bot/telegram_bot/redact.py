"""Keep the bot token out of logs. The Bot API puts the token in every URL, and httpx logs URLs
("HTTP Request: POST https://api.telegram.org/bot<token>/getUpdates"), as do some network errors."""

from __future__ import annotations

import logging

REDACTED = "[redacted]"  # the same mark as the gallery's (bot/web/log_redaction.py)


class TokenRedactingFilter(logging.Filter):
    """Replaces the token in a record's message, arguments and exception text."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def _clean(self, text: str) -> str:
        return text.replace(self._token, REDACTED)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = self._clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def protect_logs(token: str) -> None:
    """Redact the token in every handler of the root logger, and quieten httpx's per-request lines."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        if not any(isinstance(f, TokenRedactingFilter) for f in handler.filters):
            handler.addFilter(TokenRedactingFilter(token))
