"""What each parsed command does in Telegram: call the worker's client, render the result with
bot.replies, and send it. Every path answers the user; a failure changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Bot, InputMediaPhoto, Message
from telegram.constants import ChatAction, ChatType

from bot import grammar, replies
from bot.photos import add_photos
from bot.telegram_bot import buttons, media
from bot.telegram_bot.confirmations import PendingConfirmation
from bot.telegram_bot.sending import chat_action, reply_photo, reply_text
from bot.telegram_bot.services import Services
from worker.client import Choice
from worker.schemas import AnswerResult, RememberResult, Requester

_GROUP_ONLY = (grammar.Lock, grammar.Unlock, grammar.Threshold, grammar.AutoCaption, grammar.Audit, grammar.Purge)
_MODERATOR_ONLY = (grammar.Lock, grammar.Unlock, grammar.AutoCaption, grammar.Audit, grammar.Purge)
_PRIVATE_ONLY = (grammar.Export, grammar.ForgetMe)  # they would show or erase a person's data in public
_WRITES = (grammar.Remember, grammar.AddPhoto, grammar.Edit, grammar.Rename, grammar.Recategorise, grammar.Forget)


@dataclass
class Turn:
    """One message to act on, and who sent it."""

    bot: Bot
    message: Message  # the user's message (replies quote it)
    user_id: int
    who: Requester
    services: Services
    album: list[Message] = field(default_factory=list)  # every photo of an album, when one was sent

    @property
    def chat_id(self) -> int:
        return self.message.chat.id

    @property
    def in_group(self) -> bool:
        return self.message.chat.type != ChatType.PRIVATE

    async def say(self, text: str) -> Message:
        return await reply_text(self.message, text)

    async def image(self) -> bytes | None:
        file_id = media.find_image(self.message, self.services.settings.max_download_bytes)
        return None if file_id is None else await media.download(self.bot, file_id)

    async def images(self) -> list[bytes]:
        """Every photo of the album, else the one photo of the message (or of the one it replies to)."""
        if len(self.album) <= 1:
            image = await self.image()
            return [] if image is None else [image]
        limit = self.services.settings.max_download_bytes
        file_ids = [media.image_file_id(message, limit) for message in self.album]
        if None in file_ids:
            raise media.MediaProblem("Every item of the album must be a photo.")
        return [await media.download(self.bot, file_id) for file_id in file_ids if file_id is not None]


async def run_command(turn: Turn, command: grammar.Command) -> None:
    """Act on one parsed command (RapError and MediaProblem are rendered by the caller)."""
    client = turn.services.client
    if isinstance(command, _GROUP_ONLY) and not turn.in_group:
        await turn.say(replies.need_group(_name_of(command)))
        return
    if isinstance(command, _PRIVATE_ONLY) and turn.in_group:
        await turn.say(f"/{_name_of(command)} works only in a private chat with me, to keep your data private.")
        return
    if isinstance(command, _MODERATOR_ONLY) and not turn.who.moderator:
        await turn.say(f"Only this group's moderators (its administrators) may use /{_name_of(command)}.")
        return
    if isinstance(command, _WRITES) and await _locked_for(turn):
        await turn.say(
            "This group's memory is locked: only its moderators may add, change or forget things.\n"
            "Ask a moderator of this group."
        )
        return
    match command:
        case grammar.Start():
            await turn.say(replies.start_text())
        case grammar.Help(topic):
            await turn.say(replies.help_text(topic))
        case grammar.Remember(name, description):
            await remember(turn, name, description)
        case grammar.AddPhoto(name):
            images = await turn.images()
            if not images:
                await turn.say(replies.need_photo("addphoto"))
                return
            async with chat_action(turn.bot, turn.chat_id):
                outcome = await add_photos(client, turn.who, name, images, request_id=_request_id(turn.message))
            await turn.say(replies.photos_added(outcome))
        case grammar.Choose(choice):
            pending_id = turn.services.pending.get((turn.chat_id, turn.user_id))
            if pending_id is None:
                await turn.say("There is nothing to choose right now. Send a photo with /remember first.")
                return
            result = await choose(turn.bot, turn.chat_id, turn.who, turn.services, pending_id, choice, turn.user_id)
            await turn.say(replies.remember_result(result))
        case grammar.ListConcepts(page):
            await send_concepts(turn, page)
        case grammar.Show(name):
            await show(turn, name)
        case grammar.Edit(name, description):
            await turn.say(replies.edited(await client.edit(turn.who, name, description)))
        case grammar.Rename(old, new):
            await turn.say(replies.renamed(old, await client.rename(turn.who, old, new)))
        case grammar.Recategorise(name, category):
            await turn.say(replies.recategorised(await client.recategorise(turn.who, name, category)))
        case grammar.Forget(name):
            detail = await client.show(turn.who, name)  # an unknown name fails here, before any button
            token = turn.services.confirmations.add(
                PendingConfirmation("forget", turn.user_id, turn.chat_id, detail.concept.name)
            )
            await reply_text(
                turn.message,
                f"Forget {replies.concept_line(detail.concept)}? This cannot be undone.",
                buttons.confirm_keyboard(token, f"forget {detail.concept.name}"),
            )
        case grammar.Share(name):
            if not turn.in_group:
                await turn.say(replies.need_group("share"))
                return
            await turn.say(replies.shared(await client.share(turn.who, name)))
        case grammar.Export():
            async with chat_action(turn.bot, turn.chat_id, ChatAction.UPLOAD_DOCUMENT):
                archive = await client.export(turn.who)
            await turn.message.reply_document(
                archive, filename="rapbot-export.zip", caption="Everything you stored (JSON + images)."
            )
        case grammar.ForgetMe(confirmed):
            if confirmed:
                await turn.say(replies.erasure(await client.erase(turn.who)))
                turn.services.pending.pop((turn.chat_id, turn.user_id), None)
                return
            token = turn.services.confirmations.add(PendingConfirmation("forgetme", turn.user_id, turn.chat_id))
            await reply_text(
                turn.message, replies.forgetme_confirm(), buttons.confirm_keyboard(token, "erase everything")
            )
        case grammar.Lock() | grammar.Unlock():
            current = await client.update_settings(turn.who, locked=isinstance(command, grammar.Lock))
            await turn.say(replies.settings_changed(current))
        case grammar.AutoCaption(enabled):
            await turn.say(replies.settings_changed(await client.update_settings(turn.who, auto_caption=enabled)))
        case grammar.Threshold(None):
            await turn.say(replies.settings(await client.get_settings(turn.who)))
        case grammar.Threshold(value):
            if not turn.who.moderator:
                await turn.say("Only this group's moderators (its administrators) may change /threshold.")
                return
            await turn.say(replies.settings_changed(await client.update_settings(turn.who, similarity_threshold=value)))
        case grammar.Audit():
            await turn.say(replies.audit_lines(await client.audit(turn.who)))
        case grammar.Purge(member):
            await turn.say(replies.purged(member, await client.purge(turn.who, member)))
        case grammar.Question(text):
            await ask(turn, text)
        case grammar.OtherBot():
            pass  # addressed to another bot


async def remember(turn: Turn, name: str, description: str) -> None:
    images = await turn.images()
    if not images:
        await turn.say(replies.need_photo("remember"))
        return
    async with chat_action(turn.bot, turn.chat_id):
        result = await turn.services.client.remember(
            turn.who, name, description, images, request_id=_request_id(turn.message)
        )
    await send_remember_result(turn.message, result, turn.services, turn.user_id)


async def send_remember_result(message: Message, result: RememberResult, services: Services, user_id: int) -> None:
    if result.status != "candidates" or result.pending_id is None:
        await reply_text(message, replies.remember_result(result))
        return
    services.pending[(message.chat.id, user_id)] = result.pending_id
    lines = ["I see several things in this photo. Which one did you mean?"]
    lines += [f"{c.index}. {c.label} ({c.score:.2f})" for c in result.candidates]
    lines.append("Tap a number, or the whole photo.")
    keyboard = buttons.candidates_keyboard(result.pending_id, len(result.candidates))
    if result.annotated_image:
        await reply_photo(message, result.annotated_image, "\n".join(lines), keyboard)
    else:
        await reply_text(message, "\n".join(lines), keyboard)


async def choose(
    bot: Bot, chat_id: int, who: Requester, services: Services, pending_id: str, choice: Choice, user_id: int
) -> RememberResult:
    """Finish a remember that was waiting for the user's choice (a button or `/choose N`)."""
    async with chat_action(bot, chat_id):
        result = await services.client.choose(who, pending_id, choice)
    if services.pending.get((chat_id, user_id)) == pending_id:
        del services.pending[(chat_id, user_id)]
    return result


async def ask(turn: Turn, text: str) -> None:
    """A photo (own or replied to) with or without a question, or a question alone."""
    image = await turn.image()
    if image is None and not text:  # a bare mention, a voice message, a location...
        await turn.say("Send me a photo, or ask a question (e.g. what does <bo> like?). /help lists every command.")
        return
    async with chat_action(turn.bot, turn.chat_id):
        result = await turn.services.client.answer(turn.who, image, text or None)
    await send_answer(turn, result, with_photo=image is not None)


async def send_answer(turn: Turn, result: AnswerResult, with_photo: bool) -> None:
    text = replies.answer(result, with_photo)
    boxes_seen = any(r.box is not None for r in result.recognised)
    if with_photo and boxes_seen and result.annotated_image and turn.services.settings.annotated_replies:
        async with chat_action(turn.bot, turn.chat_id, ChatAction.UPLOAD_PHOTO):
            await reply_photo(turn.message, result.annotated_image, text)
        return
    await turn.say(text)


async def send_concepts(turn: Turn, page: int) -> None:
    text, keyboard = await concepts_page(turn.services, turn.who, page)
    await reply_text(turn.message, text, keyboard)


async def concepts_page(
    services: Services, who: Requester, page: int
) -> tuple[str, buttons.InlineKeyboardMarkup | None]:
    size = services.settings.concepts_page_size
    result = await services.client.list_concepts(who, offset=(page - 1) * size, limit=size)
    text = replies.concept_page(result)
    # The text's "next: /concepts N" hint stays true; the buttons are the quicker way.
    return text, buttons.pages_keyboard(page, replies.page_count(result)) if result.items else None


async def show(turn: Turn, name: str) -> None:
    detail = await turn.services.client.show(turn.who, name)
    text = replies.concept_detail(detail)
    if not detail.images:
        await turn.say(text)
        return
    async with chat_action(turn.bot, turn.chat_id, ChatAction.UPLOAD_PHOTO):
        if len(detail.images) == 1:
            await reply_photo(turn.message, detail.images[0], text)
            return
        album = [InputMediaPhoto(image) for image in detail.images[:10]]  # an album holds 10 at most
        await turn.message.reply_media_group(album)
        await turn.say(text)


async def _locked_for(turn: Turn) -> bool:
    """Refuse a write in a locked group up front, before any detection or confirmation button
    (the worker enforces the lock as well; this only spares the user a pointless round)."""
    if not turn.in_group or turn.who.moderator:
        return False
    return (await turn.services.client.get_settings(turn.who)).locked


def _name_of(command: grammar.Command) -> str:
    return grammar.format_command(command).split()[0].removeprefix("/")


def _request_id(message: Message) -> str:
    # Telegram may deliver an update twice (a restart before the offset was confirmed); the same
    # message then makes the same request id, so the worker stores it once.
    return f"telegram:{message.chat.id}:{message.message_id}"
