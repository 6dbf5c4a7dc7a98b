"""Telegram's transport for the shared dispatcher (bot.dispatch): a turn's context (who asks,
the photos of the message or album, the pending /choose of this chat and user) in, and the neutral
`Reply` drawn as Telegram messages: text, photos, an album, a document, inline keyboards."""

from __future__ import annotations

from dataclasses import dataclass, field

from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.constants import ChatAction

from bot import grammar
from bot.dispatch import (
    SLOW,
    CandidateButtons,
    ConfirmButtons,
    Context,
    FeedbackButtons,
    LinkButton,
    PageButtons,
    PendingChoice,
    Reply,
    Surface,
    Waiting,
    dispatch,
)
from bot.telegram_bot import buttons, media
from bot.telegram_bot.confirmations import PendingConfirmation
from bot.telegram_bot.sending import chat_action, reply_photo, reply_text
from bot.telegram_bot.services import Services
from worker.schemas import Requester

TELEGRAM_SURFACE = Surface(buttons=True, typed_commands=True)
_ALBUM_LIMIT = 10  # photos in one Telegram album


@dataclass
class ChatChoice:
    """The remembers waiting for /choose in one chat, for one user (kept in Services.pending)."""

    pending: dict[tuple[int, int], list[Waiting]]
    key: tuple[int, int]

    def waiting(self) -> list[Waiting]:
        return list(self.pending.get(self.key, []))

    def keep(self, waiting: list[Waiting]) -> None:
        if waiting:
            self.pending[self.key] = list(waiting)
        else:
            self.pending.pop(self.key, None)


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

    @property
    def choice(self) -> ChatChoice:
        return ChatChoice(self.services.pending, (self.chat_id, self.user_id))

    def context(self, pending: PendingChoice | None = None) -> Context:
        """The dispatcher's context; `pending` (a button's choice) stands in for the chat's pending one."""
        return Context(
            self.who,
            self.services.client,
            self.images,
            self.services.settings.concepts_page_size,
            pending or self.choice,
            TELEGRAM_SURFACE,
            _request_id(self.message),
            answered=self.services.answered.of((self.chat_id, self.user_id)),
            gallery_url=self.services.gallery_url,
        )


async def run_command(turn: Turn, command: grammar.Command) -> None:
    """Act on one parsed command and send the reply (MediaProblem is rendered by the caller)."""
    if isinstance(command, SLOW):
        action = ChatAction.UPLOAD_DOCUMENT if isinstance(command, grammar.Export) else ChatAction.TYPING
        async with chat_action(turn.bot, turn.chat_id, action):
            reply = await dispatch(command, turn.context())
    else:
        reply = await dispatch(command, turn.context())
    if isinstance(command, grammar.Question) and not turn.services.settings.annotated_replies:
        reply.photos = []
    await send(turn, reply)


async def send(turn: Turn, reply: Reply) -> None:
    """Draw a neutral reply as Telegram messages answering the turn's message."""
    message = turn.message
    keyboard = keyboard_for(turn, reply)
    if reply.file is not None:
        await message.reply_document(reply.file.data, filename=reply.file.name, caption=reply.text)
    elif len(reply.photos) == 1:
        await reply_photo(message, reply.photos[0].data, reply.text, keyboard)
    elif reply.photos:
        async with chat_action(turn.bot, turn.chat_id, ChatAction.UPLOAD_PHOTO):
            await message.reply_media_group([InputMediaPhoto(p.data) for p in reply.photos[:_ALBUM_LIMIT]])
        await reply_text(message, reply.text, keyboard)
    elif reply.text:
        await reply_text(message, reply.text, keyboard)


def keyboard_for(turn: Turn, reply: Reply) -> InlineKeyboardMarkup | None:
    match reply.buttons:
        case CandidateButtons(pending_id, candidates):
            return buttons.candidates_keyboard(pending_id, len(candidates))
        case PageButtons(page, pages):
            return buttons.pages_keyboard(page, pages)
        case FeedbackButtons(offers):
            return buttons.feedback_keyboard(offers)
        case LinkButton(label, url, mini_app_url):
            return buttons.link_keyboard(label, url, mini_app_url)
        case ConfirmButtons(action, yes_label):
            confirmation = PendingConfirmation(action.kind, turn.user_id, turn.chat_id, action.name)
            return buttons.confirm_keyboard(turn.services.confirmations.add(confirmation), yes_label)
    return None


def _request_id(message: Message) -> str:
    # Telegram may deliver an update twice (a restart before the offset was confirmed); the same
    # message then makes the same request id, so the worker stores it once.
    return f"telegram:{message.chat.id}:{message.message_id}"
