"""Log lines: JSON objects (RAPBOT_LOG_JSON=1) or `time level logger: message`, in every process;
a Celery worker's too (`use_logging_in_celery`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request fields
    of observe_request (request_id, kind, outcome, seconds, stages) and any other `extra` that is
    a plain value (str, number, bool); structured extras such as Celery's `data` (a task's
    arguments, which hold a user's text) are left out, as in the text format."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RECORD_FIELDS or key.startswith("_"):
                continue
            if key == "rapbot" and isinstance(value, dict):
                line.update(value)
            elif value is None or isinstance(value, str | int | float | bool):
                line[key] = value
            # Anything else is left out: Celery's `data` holds a task's arguments (a user's text).
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # a redacting filter may already have cleaned it (bot/telegram_bot/redact.py)
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(json_logs: bool, level: int | str = logging.INFO) -> None:
    """Log lines to stderr: JSON objects (RAPBOT_LOG_JSON=1) or `time level logger: message`. Every
    handler the root logger already has gets the formatter; with none, one stderr handler is added."""
    formatter: logging.Formatter = JsonFormatter() if json_logs else logging.Formatter(TEXT_FORMAT)
    root = logging.getLogger()
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        level = level if isinstance(level, int) else logging.INFO
    root.setLevel(level)
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter)


def use_logging_in_celery(json_logs: bool) -> None:
    """Let configure_logging, not Celery, format a worker's logs (Celery's `setup_logging` signal:
    with a receiver connected, Celery leaves logging alone)."""
    from celery.signals import setup_logging  # Celery is loaded by worker processes only

    def _setup(loglevel: int | str | None = None, **_: object) -> None:
        configure_logging(json_logs, loglevel or logging.INFO)

    setup_logging.connect(_setup, weak=False)
