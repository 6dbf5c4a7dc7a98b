"""Telegram sign-in, checked exactly as Telegram documents it: Mini App `initData`
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app) and the Login
Widget (https://core.telegram.org/widgets/login#checking-authorization). Both sign a
data-check-string (every field but `hash`, sorted, `key=value` lines) with HMAC-SHA256; they differ
in the key: HMAC_SHA256("WebAppData", token) for Mini Apps, SHA256(token) for the widget."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

from bot.web.identity import SignedInUser, SignInRefused

PLATFORM = "telegram"
FUTURE_SKEW_S = 60  # clocks differ a little; data from further in the future is refused
MAX_INIT_DATA_CHARS = 8192


def webapp_secret(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def widget_secret(bot_token: str) -> bytes:
    return hashlib.sha256(bot_token.encode()).digest()


def data_check_string(fields: Mapping[str, str]) -> str:
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign(fields: Mapping[str, str], secret: bytes) -> str:
    """The hex hash Telegram puts in `hash` for these fields."""
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def _check(fields: Mapping[str, str], secret: bytes, max_age_s: float, now: float | None) -> None:
    received = fields.get("hash", "")
    if not received or not hmac.compare_digest(sign(fields, secret), received.lower()):
        raise SignInRefused("The Telegram sign-in data is not valid. Open the gallery from the bot again.")
    try:
        auth_date = int(fields.get("auth_date", ""))
    except ValueError:
        raise SignInRefused("The Telegram sign-in data has no valid date.") from None
    age = (time.time() if now is None else now) - auth_date
    if age > max_age_s or age < -FUTURE_SKEW_S:
        raise SignInRefused("The Telegram sign-in has expired. Open the gallery from the bot again.")


def verify_init_data(init_data: str, bot_token: str, max_age_s: float, now: float | None = None) -> SignedInUser:
    """The user a Mini App's `Telegram.WebApp.initData` vouches for, or SignInRefused."""
    if not init_data or len(init_data) > MAX_INIT_DATA_CHARS:
        raise SignInRefused("Open the gallery from the bot's button in Telegram.")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise SignInRefused("The Telegram sign-in data is not valid.") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):  # a repeated key: which one was signed is ambiguous
        raise SignInRefused("The Telegram sign-in data is not valid.")
    _check(fields, webapp_secret(bot_token), max_age_s, now)
    try:
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (KeyError, ValueError, TypeError):
        raise SignInRefused("The Telegram sign-in data names no user.") from None
    return SignedInUser(PLATFORM, str(user_id), _display_name(user))


def verify_login_widget(
    fields: Mapping[str, str], bot_token: str, max_age_s: float, now: float | None = None
) -> SignedInUser:
    """The user the Telegram Login Widget's redirect (its query parameters) vouches for."""
    _check(fields, widget_secret(bot_token), max_age_s, now)
    try:
        user_id = int(fields["id"])
    except (KeyError, ValueError):
        raise SignInRefused("The Telegram sign-in data names no user.") from None
    return SignedInUser(PLATFORM, str(user_id), _display_name(fields))


def _display_name(user: Mapping[str, object]) -> str:
    first, last, username = user.get("first_name"), user.get("last_name"), user.get("username")
    name = " ".join(str(part) for part in (first, last) if isinstance(part, str) and part)
    return (name or (f"@{username}" if isinstance(username, str) and username else "Telegram user"))[:64]
