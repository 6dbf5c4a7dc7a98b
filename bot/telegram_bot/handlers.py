"""The python-telegram-bot handlers: messages (commands, photos, questions, albums), inline
buttons, member changes and errors. They decide whether the bot is addressed and who asks, then
hand the parsed command to bot.telegram_bot.actions."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from telegram import Bot, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ContextTypes

from bot import grammar, replies
from bot.dispatch import (
    Confirmation,
    button_choice,
    confirmed,
    dispatch,
    drop_waiting,
    feedback_given,
    parse_error_reply,
)
from bot.telegram_bot import actions, media
from bot.telegram_bot.buttons import ChooseData, ConfirmData, FeedbackData, PageData, parse_data, without_feedback
from bot.telegram_bot.sending import chat_action, reply_text
from bot.telegram_bot.services import SERVICES_KEY, Services, services
from worker.errors import RapError
from worker.schemas import Requester

log = logging.getLogger(__name__)
_ALERT_LIMIT = 200  # characters Telegram shows in a callback answer


def _allowed(svc: Services, user_id: int) -> bool:
    allowed = svc.settings.allowed_users
    return not allowed or user_id in allowed or user_id in svc.settings.owner_ids


def addressed_text(message: Message, bot: Bot) -> tuple[bool, str]:
    """Whether a group message is meant for the bot (a command, an @mention of it, a reply to it),
    and its text with the mention removed."""
    text = message.text or message.caption or ""
    mention = f"@{bot.username}".lower()
    entities = message.parse_entities([MessageEntity.MENTION]) or message.parse_caption_entities(
        [MessageEntity.MENTION]
    )
    mentioned = any(value.lower() == mention for value in entities.values())
    if mentioned:
        start = text.lower().find(mention)
        text = (text[:start] + text[start + len(mention) :]).strip()
    replied = message.reply_to_message
    to_bot = replied is not None and replied.from_user is not None and replied.from_user.id == bot.id
    return text.lstrip().startswith("/") or mentioned or to_bot, text


async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    svc = services(context)
    if not _allowed(svc, user.id):
        if message.chat.type == ChatType.PRIVATE:
            await reply_text(message, "Sorry, this bot is private: your account is not on its allow-list.")
        return
    if message.media_group_id is not None:
        svc.albums.add(context.application, message)
        return
    await handle(context.bot, svc, message, [message])


async def handle(bot: Bot, svc: Services, message: Message, album: list[Message]) -> None:
    """Act on one message, or on an album whose caption sits on `message`."""
    user = message.from_user
    if user is None:
        return
    in_group = message.chat.type != ChatType.PRIVATE
    addressed, text = addressed_text(message, bot)
    if in_group and not addressed:
        await _auto_caption(bot, svc, message)
        return
    try:
        command = grammar.parse(text, bot.username)
    except grammar.ParseError as err:
        replied = message.reply_to_message
        if err.command == "purge" and replied is not None and replied.from_user is not None:
            command = grammar.Purge(str(replied.from_user.id))  # /purge as a reply to the member
        else:
            await reply_text(message, parse_error_reply(err, in_group))
            return
    if isinstance(command, grammar.OtherBot):
        return
    wait_s = svc.limits.try_acquire(user.id, message.chat.id if in_group else None)
    if wait_s is not None:
        await reply_text(message, replies.rate_limited(wait_s))
        return
    who = await svc.requester(bot, message.chat, user.id, message.sender_chat)
    turn = actions.Turn(bot, message, user.id, who, svc, album)
    await _guarded(message, actions.run_command(turn, command), command)


async def _guarded(message: Message, work: Awaitable[None], command: grammar.Command | None = None) -> None:
    """Run the work; a refusal from the worker or an unusable file becomes a clear reply. Any other
    failure (a bug, or Telegram refusing our reply) is logged, and the user told only what is
    known: a command that changes nothing changed nothing; for one that changes the memory, the
    change may have been made (most often it was, and only the reply failed), so say how to check."""
    try:
        await work
    except RapError as err:
        await reply_text(message, replies.error(err))
    except media.MediaProblem as err:
        await reply_text(message, err.message)
    except Exception as exc:
        log.error("update failed", exc_info=exc)
        check = replies.check_command(command) if command is not None else None
        if command is not None and check is None:
            text = replies.unexpected_error()
        else:
            text = replies.unconfirmed_error(check, sending=isinstance(exc, TelegramError))
        try:
            await reply_text(message, text)
        except Exception:  # the network may be what failed; the log line above is enough
            log.warning("could not tell the user about the failure")


async def _auto_caption(bot: Bot, svc: Services, message: Message) -> None:
    """In a group, a photo nobody addressed to the bot is captioned only when the group opted in."""
    user = message.from_user
    if user is None or not message.photo:
        return
    who = Requester(platform="telegram", user_id=str(user.id), chat_kind="group", chat_id=str(message.chat.id))
    try:
        if not (await svc.client.get_settings(who)).auto_caption:
            return
    except RapError:
        return  # an unknown group has no settings yet: auto captions are off
    if svc.limits.try_acquire(user.id, message.chat.id) is not None:
        return  # never nag a group about limits for messages it did not address to the bot
    await _guarded(message, actions.run_command(actions.Turn(bot, message, user.id, who, svc), grammar.Question("")))


async def on_album(application: Application, album: list[Message]) -> None:  # type: ignore[type-arg]
    """The caption (the command, if any) usually sits on one photo of the album only."""
    captioned = next((m for m in album if m.caption), album[0])
    await handle(application.bot, application.bot_data[SERVICES_KEY], captioned, album)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    svc = services(context)
    data = parse_data(query.data)
    message = query.message
    if data is None or not isinstance(message, Message):
        await query.answer("This button no longer works.")
        return
    user_id = query.from_user.id
    if not _allowed(svc, user_id):
        await query.answer("Sorry, this bot is private.")
        return
    who = await svc.requester(context.bot, message.chat, user_id)
    turn = actions.Turn(context.bot, message, user_id, who, svc)
    match data:
        case ChooseData(pending_id, choice):
            async with chat_action(context.bot, message.chat.id):
                reply = await dispatch(grammar.Choose(choice), turn.context(button_choice(turn.choice, pending_id)))
            if reply.refused:
                # Someone else's photo, or an old button: tell the presser only, keep the buttons.
                await query.answer(reply.text[:_ALERT_LIMIT], show_alert=True)
                return
            drop_waiting(turn.choice, pending_id)  # the same choice cannot be made by /choose as well
            await query.answer()
            await query.edit_message_reply_markup(None)  # a choice is made once
            await reply_text(message, reply.text)
        case PageData(page):
            reply = await dispatch(grammar.ListConcepts(page), turn.context())
            await query.answer()
            try:
                await query.edit_message_text(reply.text, reply_markup=actions.keyboard_for(turn, reply))
            except BadRequest as err:
                if "not modified" not in err.message.lower():  # the page shown already
                    raise
        case ConfirmData(token, accepted):
            await _confirm(update, turn, token, accepted)
        case FeedbackData(feedback_id, correct):
            reply = await feedback_given(feedback_id, correct, turn.context())
            if reply.refused:  # expired, already answered, or not allowed: the presser only is told
                await query.answer(reply.text[:_ALERT_LIMIT], show_alert=True)
                return
            await query.answer()
            await query.edit_message_reply_markup(without_feedback(message.reply_markup, feedback_id))
            await reply_text(message, reply.text)


async def _confirm(update: Update, turn: actions.Turn, token: str, accepted: bool) -> None:
    query = update.callback_query
    assert query is not None
    confirmation = turn.services.confirmations.take(token, query.from_user.id)
    if confirmation is None:
        await query.answer("This button has expired or was meant for someone else.", show_alert=True)
        return
    await query.answer()
    if not accepted:
        await query.edit_message_text("Kept: nothing was changed.")
        return
    reply = await confirmed(Confirmation(confirmation.kind, confirmation.name), turn.context())
    await query.edit_message_text(reply.text)


async def on_member_change(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.chat_member is not None:
        services(context).moderators.member_changed(update.chat_member)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log (the token is redacted by the log filter) and tell the user; never show the exception.
    Messages fail in `_guarded`, which knows their command; what reaches this handler (a button, a
    member update) may have changed something, so the reply says how to check, not "nothing"."""
    log.error("update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            text = replies.unconfirmed_error(None, sending=isinstance(context.error, TelegramError))
            await reply_text(update.effective_message, text)
        except Exception:  # the network may be what failed; the log line above is enough
            log.warning("could not tell the user about the failure")
