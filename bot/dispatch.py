"""The one dispatcher of every frontend: a parsed command in, frontend-neutral reply content out.

`dispatch(command, ctx)` calls the worker's client and says what to show: text, photos, a file,
buttons (described, not drawn) and whether the reply is for the asker's eyes only. A frontend
keeps only its transport: how it learns who asks (and whether they moderate), how it fetches the
photos, and how it draws a `Reply`. The context rules (group-only, private-only, needs a photo)
live here once. Who may lock, tune, audit or purge is the store's rule: a refusal comes back from
the client as a RapError and is rendered here like any other, so every frontend says the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot import grammar, replies
from bot.grammar import (
    AddPhoto,
    Audit,
    AutoCaption,
    Choose,
    Command,
    Edit,
    Export,
    Feedback,
    Forget,
    ForgetMe,
    Gallery,
    Help,
    ListConcepts,
    Lock,
    OtherBot,
    Purge,
    Question,
    Recategorise,
    Remember,
    Rename,
    Share,
    Show,
    Start,
    Threshold,
    Unlock,
)
from bot.photos import add_photos
from worker.client import RapClient
from worker.errors import RapError
from worker.schemas import AnswerResult, Candidate, RememberResult, Requester

# Context rules, the same on every frontend.
GROUP_ONLY = (Lock, Unlock, Threshold, AutoCaption, Audit, Purge, Share)
PRIVATE_ONLY = (Export, ForgetMe)  # they would show or erase a person's data in public
WRITES = (Remember, AddPhoto, Edit, Rename, Recategorise, Forget)
# Replies for the asker only, where the frontend can show one privately (Discord's ephemeral messages).
PRIVATE_REPLIES = (ListConcepts, Forget, Export, ForgetMe, Audit)
# Commands that make the worker detect, embed or generate: a frontend may show "typing..." meanwhile.
SLOW = (Remember, AddPhoto, Choose, Question, Export)


# ---------------------------------------------------------------- what a reply holds


@dataclass(frozen=True)
class ReplyFile:
    name: str  # a file name to show or save it under, e.g. "rapbot-answer.jpg"
    data: bytes


@dataclass(frozen=True)
class Confirmation:
    """A destructive action waiting for the asker's yes: run it with `confirmed()`."""

    kind: Literal["forget", "forgetme"]
    name: str | None = None  # the concept, for "forget"


@dataclass(frozen=True)
class ConfirmButtons:
    action: Confirmation
    yes_label: str  # beside a "keep"/"cancel" button


@dataclass(frozen=True)
class CandidateButtons:
    """One button per numbered box on the photo, plus the whole photo and cancel."""

    pending_id: str
    candidates: list[Candidate]


@dataclass(frozen=True)
class PageButtons:
    page: int
    pages: int


@dataclass(frozen=True)
class FeedbackButtons:
    """Under a photo answer: "yes, that's <name>" / "no" for each concept it recognised, as
    (name, feedback id); press with `feedback_given()`."""

    offers: list[tuple[str, str]]


@dataclass(frozen=True)
class LinkButton:
    """A button that opens a web page: the gallery. `mini_app_url`, when set, is the same gallery as a
    Telegram Mini App (private chats only: Telegram allows Mini App buttons there)."""

    label: str
    url: str
    mini_app_url: str | None = None


Buttons = ConfirmButtons | CandidateButtons | PageButtons | FeedbackButtons | LinkButton


@dataclass
class Reply:
    """Frontend-neutral reply content. Empty `text` with nothing else: say nothing."""

    text: str
    photos: list[ReplyFile] = field(default_factory=list)
    file: ReplyFile | None = None
    buttons: Buttons | None = None
    private: bool = False  # for the asker's eyes only, where the frontend can do that
    refused: bool = False  # nothing was done: a context rule, a missing photo or a refusal from the worker


# ---------------------------------------------------------------- what the dispatcher is given


@dataclass(frozen=True)
class Surface:
    """What a frontend can show; it changes the wording of a reply, never whether it is done."""

    buttons: bool = False  # it draws buttons (confirm, candidates, pages)
    typed_commands: bool = True  # users type /commands (console, Telegram), not slash-command options (Discord)


class PendingChoice(Protocol):
    """Where a frontend keeps the remember waiting for `/choose`, per chat and user."""

    def get(self) -> str | None: ...

    def set(self, pending_id: str | None) -> None: ...


@dataclass
class HeldChoice:
    """A pending choice held in memory (one console session, one button press)."""

    pending_id: str | None = None

    def get(self) -> str | None:
        return self.pending_id

    def set(self, pending_id: str | None) -> None:
        self.pending_id = pending_id


class LastAnswer(Protocol):
    """Where a frontend keeps what its last photo answer recognised, per chat and user, for a typed
    /yes or /no: concept name -> feedback id."""

    def get(self) -> dict[str, str]: ...

    def set(self, offers: dict[str, str]) -> None: ...


@dataclass
class HeldAnswer:
    """The last answer's offers held in memory (one console session)."""

    offers: dict[str, str] = field(default_factory=dict)

    def get(self) -> dict[str, str]:
        return dict(self.offers)

    def set(self, offers: dict[str, str]) -> None:
        self.offers = dict(offers)


@dataclass
class KeptAnswer:
    """One chat's and user's last photo answer, in a frontend's `KeptAnswers`."""

    kept: KeptAnswers
    key: Hashable

    def get(self) -> dict[str, str]:
        return dict(self.kept.offers.get(self.key, {}))

    def set(self, offers: dict[str, str]) -> None:
        self.kept.offers.pop(self.key, None)
        if offers:
            if len(self.kept.offers) >= self.kept.limit:  # the oldest answer goes first
                self.kept.offers.pop(next(iter(self.kept.offers)))
            self.kept.offers[self.key] = dict(offers)


@dataclass
class KeptAnswers:
    """The last photo answer's offers per (chat, user) of a frontend serving many chats (Telegram,
    Discord), for a typed /yes or /no; bounded, so a busy bot does not grow without end (the offers
    themselves expire in the worker after RAPBOT_FEEDBACK_TTL_S)."""

    limit: int = 10_000
    offers: dict[Hashable, dict[str, str]] = field(default_factory=dict)

    def of(self, key: Hashable) -> KeptAnswer:
        return KeptAnswer(self, key)


async def no_images() -> list[bytes]:
    return []


@dataclass
class Context:
    who: Requester
    client: RapClient
    # The photos sent with the command, fetched only when the command needs them.
    images: Callable[[], Awaitable[list[bytes]]] = no_images
    page_size: int = 20
    pending: PendingChoice = field(default_factory=HeldChoice)
    surface: Surface = field(default_factory=Surface)
    request_id: str | None = None  # the same for a redelivered chat update, so it is stored once
    member_name: Callable[[str], str] = str  # how to show a member id (Discord: their display name)
    answered: LastAnswer = field(default_factory=HeldAnswer)  # for /yes and /no
    gallery_url: str | None = None  # the web gallery's public base URL; None: no gallery (/gallery says so)
    # A link that signs the asker in to the gallery, where the frontend can make one (the console).
    gallery_sign_in: Callable[[], str | None] | None = None


def private_reply(command: Command) -> bool:
    """Whether the reply to `command` is for the asker only (known before any work is done)."""
    return isinstance(command, PRIVATE_REPLIES)


def name_of(command: Command) -> str:
    """The command's name without the slash, e.g. "lock"."""
    return grammar.format_command(command).split()[0].removeprefix("/")


# ---------------------------------------------------------------- the dispatcher


async def dispatch(command: Command, ctx: Context) -> Reply:
    """Act on one parsed command. A RapError becomes a refused reply; anything else propagates."""
    try:
        refusal = await _context_refusal(command, ctx)
        if refusal is not None:
            return Reply(refusal, private=True, refused=True)
        return await _act(command, ctx)
    except RapError as err:
        return Reply(replies.error(err), private=True, refused=True)


async def feedback_given(feedback_id: str, correct: bool, ctx: Context) -> Reply:
    """A yes / no button under a photo answer was pressed (its feedback id names the concept)."""
    try:
        return Reply(replies.feedback_done(await ctx.client.feedback(ctx.who, feedback_id, None, correct), correct))
    except RapError as err:
        return Reply(replies.error(err), private=True, refused=True)


async def confirmed(action: Confirmation, ctx: Context) -> Reply:
    """Carry out a destructive action the asker confirmed (a button press)."""
    try:
        if action.kind == "forget" and action.name is not None:
            await ctx.client.forget(ctx.who, action.name)
            return Reply(replies.forgotten(action.name))
        ctx.pending.set(None)
        return Reply(replies.erasure(await ctx.client.erase(ctx.who)), private=True)
    except RapError as err:
        return Reply(replies.error(err), private=True, refused=True)


async def _context_refusal(command: Command, ctx: Context) -> str | None:
    in_group = ctx.who.chat_kind == "group"
    if isinstance(command, GROUP_ONLY) and not in_group:
        return replies.need_group(name_of(command))
    if isinstance(command, PRIVATE_ONLY) and in_group:
        return replies.need_private(name_of(command))
    if isinstance(command, WRITES) and await _locked_for(ctx):
        return replies.locked()
    return None


async def _locked_for(ctx: Context) -> bool:
    """Refuse a write in a locked group up front, before any photo is fetched or detected (the
    store enforces the lock itself; asking it here only spares the user a pointless round)."""
    if ctx.who.chat_kind != "group" or ctx.who.moderator:
        return False
    return (await ctx.client.get_settings(ctx.who)).locked


async def _act(command: Command, ctx: Context) -> Reply:
    client, who = ctx.client, ctx.who
    match command:
        case Question(text):
            return await _answer(ctx, text)
        case Remember(name, description):
            images = await ctx.images()
            if not images:
                return Reply(replies.need_photo("remember"), private=True, refused=True)
            result = await client.remember(who, name, description, images, request_id=ctx.request_id)
            return _remembered(result, ctx)
        case Feedback(correct, name):
            return await _feedback(ctx, correct, name)
        case Choose(choice):
            pending_id = ctx.pending.get()
            if pending_id is None:
                return Reply(replies.nothing_to_choose(), private=True, refused=True)
            result = await client.choose(who, pending_id, choice)
            if ctx.pending.get() == pending_id:
                ctx.pending.set(None)
            return Reply(replies.remember_result(result))
        case AddPhoto(name):
            images = await ctx.images()
            if not images:
                return Reply(replies.need_photo("addphoto"), private=True, refused=True)
            return Reply(replies.photos_added(await add_photos(client, who, name, images, ctx.request_id)))
        case ListConcepts(page):
            size = ctx.page_size
            listing = await client.list_concepts(who, (page - 1) * size, size)
            pages = replies.page_count(listing)
            pager = PageButtons(page, pages) if ctx.surface.buttons and listing.items and pages > 1 else None
            text = replies.concept_page(listing, typed=ctx.surface.typed_commands)
            return Reply(text, buttons=pager, private=True)
        case Show(name):
            detail = await client.show(who, name)
            stem = "".join(ch if ch.isalnum() else "-" for ch in detail.concept.name)[:40] or "concept"
            photos = [ReplyFile(f"{stem}-{i}.jpg", image) for i, image in enumerate(detail.images, 1)]
            return Reply(replies.concept_detail(detail), photos=photos)
        case Edit(name, description):
            return Reply(replies.edited(await client.edit(who, name, description)))
        case Rename(old, new):
            return Reply(replies.renamed(old, await client.rename(who, old, new)))
        case Recategorise(name, category):
            return Reply(replies.recategorised(await client.recategorise(who, name, category)))
        case Forget(name):
            if not ctx.surface.buttons:  # nothing to press: the typed command is the confirmation
                await client.forget(who, name)
                return Reply(replies.forgotten(name))
            concept = (await client.show(who, name)).concept  # an unknown name fails here, before any button
            confirm = ConfirmButtons(Confirmation("forget", concept.name), f"forget {concept.name}")
            return Reply(replies.forget_confirm(concept), buttons=confirm, private=True)
        case Share(name):
            return Reply(replies.shared(await client.share(who, name)))
        case Export():
            archive = await client.export(who)
            return Reply(replies.export_ready(len(archive)), file=ReplyFile("rapbot-export.zip", archive), private=True)
        case ForgetMe(confirmed=True):
            return await confirmed(Confirmation("forgetme"), ctx)
        case ForgetMe():
            erase = ConfirmButtons(Confirmation("forgetme"), "erase everything") if ctx.surface.buttons else None
            return Reply(replies.forgetme_confirm(typed=ctx.surface.typed_commands), buttons=erase, private=True)
        case Lock() | Unlock():
            return Reply(replies.settings_changed(await client.update_settings(who, locked=isinstance(command, Lock))))
        case Threshold(None):
            return Reply(replies.settings(await client.get_settings(who)))
        case Threshold(value):
            return Reply(replies.settings_changed(await client.update_settings(who, similarity_threshold=value)))
        case AutoCaption(enabled):
            return Reply(replies.settings_changed(await client.update_settings(who, auto_caption=enabled)))
        case Audit(limit):
            return Reply(replies.audit_lines(await client.audit(who, limit=limit)), private=True)
        case Purge(member):
            return Reply(replies.purged(ctx.member_name(member), await client.purge(who, member)))
        case Help(topic):
            return Reply(replies.help_text(topic))
        case Start():
            return Reply(replies.start_text())
        case Gallery():
            return _gallery(ctx)
        case OtherBot():
            return Reply("")  # addressed to another bot
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


async def _answer(ctx: Context, text: str) -> Reply:
    """A photo with or without a question (a caption), or a question alone."""
    images = await ctx.images()
    if len(images) > 1:
        return Reply(replies.one_photo_at_a_time(), private=True, refused=True)
    if not images and not text:  # a bare mention, a voice message, a location...
        return Reply(replies.how_to_ask(), private=True, refused=True)
    image = images[0] if images else None
    result = await ctx.client.answer(ctx.who, image, text or None)
    text = replies.answer(result, with_photo=image is not None)
    # Each concept seen in the photo can be confirmed or corrected (worker/domain/learning.py).
    offers = {r.name: r.feedback_id for r in result.recognised if r.feedback_id}
    ctx.answered.set(offers)
    buttons = FeedbackButtons(list(offers.items())) if offers and ctx.surface.buttons else None
    if offers and not ctx.surface.buttons and ctx.surface.typed_commands:
        text += "\n" + replies.feedback_hint(list(offers))
    return Reply(text, photos=_annotated(result, image is not None), buttons=buttons)


async def _feedback(ctx: Context, correct: bool, name: str | None) -> Reply:
    """A typed /yes or /no about the last photo answer in this chat."""
    offers = ctx.answered.get()
    if not offers:
        return Reply(replies.nothing_to_confirm(), private=True, refused=True)
    if name is None:
        if len(offers) > 1:
            return Reply(replies.which_to_confirm(list(offers), correct), private=True, refused=True)
        [(name, feedback_id)] = offers.items()
    else:
        key = name.casefold()
        found = [(known, fid) for known, fid in offers.items() if known.casefold() == key]
        if not found:
            return Reply(replies.not_in_last_answer(name, list(offers)), private=True, refused=True)
        name, feedback_id = found[0]
    concept = await ctx.client.feedback(ctx.who, feedback_id, name, correct)
    ctx.answered.set({known: fid for known, fid in offers.items() if fid != feedback_id})
    return Reply(replies.feedback_done(concept, correct))


def _gallery(ctx: Context) -> Reply:
    """A link to this chat's memory in the web gallery (bot/web): the group's in a group, the
    user's own in a private chat. Signing in there proves who they are; the link grants nothing."""
    if ctx.gallery_url is None:
        return Reply(replies.gallery_unavailable(), private=True, refused=True)
    base = ctx.gallery_url.rstrip("/")
    in_group = ctx.who.chat_kind == "group" and ctx.who.chat_id
    url = f"{base}/m/g{ctx.who.chat_id}" if in_group else f"{base}/m/me"
    mini_app = None if in_group else f"{base}/tg"
    button = LinkButton("Open the gallery", url, mini_app) if ctx.surface.buttons else None
    sign_in = ctx.gallery_sign_in() if ctx.gallery_sign_in is not None else None
    return Reply(replies.gallery_link(url, sign_in), buttons=button, private=True)


def _annotated(result: AnswerResult, with_photo: bool) -> list[ReplyFile]:
    """The photo with the recognised concepts boxed, when a photo was asked about and something was seen."""
    seen = any(r.box is not None for r in result.recognised)
    if not (with_photo and seen and result.annotated_image):
        return []
    return [ReplyFile("rapbot-answer.jpg", result.annotated_image)]


def _remembered(result: RememberResult, ctx: Context) -> Reply:
    if result.status != "candidates" or result.pending_id is None:
        ctx.pending.set(None)
        return Reply(replies.remember_result(result))
    ctx.pending.set(result.pending_id)
    photos = [ReplyFile("rapbot-candidates.jpg", result.annotated_image)] if result.annotated_image else []
    buttons = CandidateButtons(result.pending_id, result.candidates) if ctx.surface.buttons else None
    return Reply(replies.candidates(result, buttons=ctx.surface.buttons), photos=photos, buttons=buttons)
