"""Inline keyboards and the callback data behind their buttons (at most 64 bytes each).

ch|<pending id>|<1..N, whole, cancel>   choose a candidate box of a pending remember
cp|<page>                               a page of /concepts
ok|<token>, no|<token>                  confirm or decline a stored confirmation
fb|<feedback id>|y, fb|<feedback id>|n  yes / no to a concept a photo answer recognised
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.grammar import MAX_CHOICE, MAX_PAGE
from worker.client import Choice

_BUTTONS_PER_ROW = 5


@dataclass(frozen=True)
class ChooseData:
    pending_id: str
    choice: Choice


@dataclass(frozen=True)
class PageData:
    page: int


@dataclass(frozen=True)
class ConfirmData:
    token: str
    accepted: bool


@dataclass(frozen=True)
class FeedbackData:
    feedback_id: str
    correct: bool


ButtonData = ChooseData | PageData | ConfirmData | FeedbackData


def parse_data(data: str | None) -> ButtonData | None:
    """None for data this bot never made (old buttons, forged queries)."""
    parts = (data or "").split("|")
    try:
        if parts[0] == "ch" and len(parts) == 3:
            choice: Choice = parts[2] if parts[2] in ("whole", "cancel") else int(parts[2])  # type: ignore[assignment]
            if isinstance(choice, int) and not 1 <= choice <= MAX_CHOICE:
                return None  # a forged number: the bot only makes buttons for the objects it listed
            return ChooseData(parts[1], choice)
        if parts[0] == "cp" and len(parts) == 2:
            return PageData(min(MAX_PAGE, max(1, int(parts[1]))))
        if parts[0] in ("ok", "no") and len(parts) == 2:
            return ConfirmData(parts[1], parts[0] == "ok")
        if parts[0] == "fb" and len(parts) == 3 and parts[1] and parts[2] in ("y", "n"):
            return FeedbackData(parts[1], parts[2] == "y")
    except ValueError:
        return None
    return None


def candidates_keyboard(pending_id: str, count: int) -> InlineKeyboardMarkup:
    numbers = [InlineKeyboardButton(str(i), callback_data=f"ch|{pending_id}|{i}") for i in range(1, count + 1)]
    rows = [numbers[i : i + _BUTTONS_PER_ROW] for i in range(0, len(numbers), _BUTTONS_PER_ROW)]
    rows.append(
        [
            InlineKeyboardButton("whole photo", callback_data=f"ch|{pending_id}|whole"),
            InlineKeyboardButton("cancel", callback_data=f"ch|{pending_id}|cancel"),
        ]
    )
    return InlineKeyboardMarkup(rows)


def feedback_keyboard(offers: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One row per recognised concept: "yes, <bo>" / "not <bo>"."""
    rows = [
        [
            InlineKeyboardButton(f"yes, <{name}>", callback_data=f"fb|{feedback_id}|y"),
            InlineKeyboardButton(f"not <{name}>", callback_data=f"fb|{feedback_id}|n"),
        ]
        for name, feedback_id in offers
    ]
    return InlineKeyboardMarkup(rows)


def without_feedback(markup: InlineKeyboardMarkup | None, feedback_id: str) -> InlineKeyboardMarkup | None:
    """The keyboard without the row of an answered concept (None when nothing is left)."""
    if markup is None:
        return None
    marker = f"fb|{feedback_id}|"
    rows = [
        list(row)
        for row in markup.inline_keyboard
        if not any(str(button.callback_data or "").startswith(marker) for button in row)
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def pages_keyboard(page: int, pages: int) -> InlineKeyboardMarkup | None:
    if pages <= 1:
        return None
    row = []
    if page > 1:
        row.append(InlineKeyboardButton("« previous", callback_data=f"cp|{page - 1}"))
    row.append(InlineKeyboardButton(f"{page}/{pages}", callback_data=f"cp|{page}"))
    if page < pages:
        row.append(InlineKeyboardButton("next »", callback_data=f"cp|{page + 1}"))
    return InlineKeyboardMarkup([row])


def confirm_keyboard(token: str, yes: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(yes, callback_data=f"ok|{token}"),
                InlineKeyboardButton("keep", callback_data=f"no|{token}"),
            ]
        ]
    )


ConfirmKind = Literal["forget", "forgetme"]


def link_keyboard(label: str, url: str, mini_app_url: str | None = None) -> InlineKeyboardMarkup:
    """One button opening the gallery: as a Mini App inside Telegram where one is allowed (private
    chats, https), else as a link to the browser gallery."""
    if mini_app_url is not None and mini_app_url.startswith("https://"):
        return InlineKeyboardMarkup([[InlineKeyboardButton(label, web_app=WebAppInfo(mini_app_url))]])
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url)]])
