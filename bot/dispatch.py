"""The one dispatcher of every frontend: a parsed command in, frontend-neutral reply content out.

`dispatch(command, ctx)` calls the worker's client and says what to show: text, photos, a file,
buttons (described, not drawn) and whether the reply is for the asker's eyes only. A frontend
keeps only its transport: how it learns who asks (and whether they moderate), how it fetches the
photos, and how it draws a `Reply`. The context rules (group-only, private-only, needs a photo)
live here once. Who may lock, tune, audit or purge is the store's rule: a refusal comes back from
the client as a RapError and is rendered here like any other, so every frontend says the same.

One module (over 400 lines) on purpose: it is the one table from command to call and reply, and
splitting it would scatter the context rules it exists to keep in one place.
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
from worker.errors import NO_PENDING, RapError
from worker.schemas import AnswerResult, Candidate, RememberResult, Requester

# Context rules, the same on every frontend.
GROUP_ONLY = (Lock, Unlock, Threshold, AutoCaption, Audit, Purge, Share)
PRIVATE_ONLY = (Export, ForgetMe)  # they would show or erase a person's data in public
# The same rules by command name, for a command whose arguments did not parse (`/threshold 1.5` in a
# private chat is refused as a group setting before its number is judged).
GROUP_ONLY_NAMES = frozenset({"lock", "unlock", "threshold", "autocaption", "audit", "purge", "share"})
PRIVATE_ONLY_NAMES = frozenset({"export", "forgetme"})
WRITES = (Remember, AddPhoto, Edit, Rename, Recategorise, Forget)
# Replies for the asker only, where the frontend can show one privately (Discord's ephemeral messages).
PRIVATE_REPLIES = (ListConcepts, Forget, Export, ForgetMe, Audit)
# Commands that make the worker detect, embed or generate: a frontend may show "typing..." meanwhile.
SLOW = (Remember, AddPhoto, Choose, Question, Export)


# ---------------------------------------------------------------- what a reply holds

# How a command ended: done; refused by the policy (a permission, a locked group); the concept,
# memory or pending choice is not there; the request does not fit (a context rule, a bad name or
# photo, a duplicate); the service cannot answer now. The web answers 200/303, 403, 404, 422, 503.
Outcome = Literal["ok", "refused", "not_found", "invalid", "unavailable"]
NOT_FOUND_CODES = frozenset({"unknown_concept", "unknown_scope", "no_pending", "no_feedback"})
UNAVAILABLE_CODES = frozenset(
    {"backend_down", "store_unavailable", "timeout", "model_missing", "out_of_memory", "dead_letter", "memory_error"}
)


def outcome_of(err: RapError) -> Outcome:
    """The outcome of a command the worker refused, from its stable RapError code."""
    if err.code == "permission_denied":
        return "refused"
    if err.code in NOT_FOUND_CODES:
        return "not_found"
    if err.code in UNAVAILABLE_CODES:
        return "unavailable"
    return "invalid"


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
    name: str = ""  # the concept being remembered


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
    # How it ended, stable for programs (tests, the web's HTTP status); `refused` is any but "ok". A
    # refused reply that names no outcome is "invalid" (the request does not fit: context, photo).
    outcome: Outcome = "ok"

    def __post_init__(self) -> None:
        if self.refused and self.outcome == "ok":
            self.outcome = "invalid"
        self.refused = self.outcome != "ok"


# ---------------------------------------------------------------- what the dispatcher is given


@dataclass(frozen=True)
class Surface:
    """What a frontend can show; it changes the wording of a reply, never whether it is done."""

    buttons: bool = False  # it draws buttons (confirm, candidates, pages)
    typed_commands: bool = True  # users type /commands (console, Telegram), not slash-command options (Discord)


@dataclass(frozen=True)
class Waiting:
    """A remember waiting for the user's choice among numbered boxes: the concept's name ("" when not
    known, as for a button pressed in a chat that does not hold it) and the worker's pending id."""

    name: str
    pending_id: str


# Remembers that may wait at once per chat and user; beyond it the oldest is set aside, and said so.
MAX_WAITING = 20


class PendingChoice(Protocol):
    """Where a frontend keeps the remembers waiting for `/choose`, per chat and user, oldest first:
    `/choose N` is for the last one (the one the bot asked about last), `/choose bo N` for bo's."""

    def waiting(self) -> list[Waiting]: ...

    def keep(self, waiting: list[Waiting]) -> None: ...


@dataclass
class HeldChoice:
    """Pending choices held in memory (one console session; `HeldChoice.of(id)`: one button press)."""

    items: list[Waiting] = field(default_factory=list)

    @classmethod
    def of(cls, pending_id: str, name: str = "") -> HeldChoice:
        return cls([Waiting(name, pending_id)])

    def waiting(self) -> list[Waiting]:
        return list(self.items)

    def keep(self, waiting: list[Waiting]) -> None:
        self.items = list(waiting)


def button_choice(chat: PendingChoice, pending_id: str) -> HeldChoice:
    """The choice a button under a candidates photo stands for: its pending id, named as the chat
    holds it (so an expired one can be named)."""
    return HeldChoice([w for w in chat.waiting() if w.pending_id == pending_id] or [Waiting("", pending_id)])


def drop_waiting(chat: PendingChoice, pending_id: str) -> None:
    """A choice made (by a button or typed) or expired: it no longer waits."""
    chat.keep([w for w in chat.waiting() if w.pending_id != pending_id])


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


# Called with every reply the dispatcher gives (its requester and outcome): metrics, tests.
observers: list[Callable[[Requester, Reply], None]] = []


def _observed(reply: Reply, ctx: Context) -> Reply:
    for observer in observers:
        observer(ctx.who, reply)
    return reply


async def dispatch(command: Command, ctx: Context) -> Reply:
    """Act on one parsed command. A RapError becomes a refused reply; anything else propagates."""
    return _observed(await _dispatch(command, ctx), ctx)


async def _dispatch(command: Command, ctx: Context) -> Reply:
    try:
        refusal = await _context_refusal(command, ctx)
        if refusal is not None:
            text, outcome = refusal
            return Reply(text, private=True, outcome=outcome)
        return await _act(command, ctx)
    except RapError as err:
        return Reply(replies.error(err), private=True, outcome=outcome_of(err))


def parse_error_reply(err: grammar.ParseError, in_group: bool) -> str:
    """The reply to a command that did not parse: its context rule first, then what was wrong with it."""
    if err.command in GROUP_ONLY_NAMES and not in_group:
        return replies.need_group(err.command)
    if err.command in PRIVATE_ONLY_NAMES and in_group:
        return replies.need_private(err.command)
    return replies.parse_error(err)


async def feedback_given(feedback_id: str, correct: bool, ctx: Context) -> Reply:
    """A yes / no button under a photo answer was pressed (its feedback id names the concept)."""
    try:
        concept = await ctx.client.feedback(ctx.who, feedback_id, None, correct)
        return _observed(Reply(replies.feedback_done(concept, correct)), ctx)
    except RapError as err:
        return _observed(Reply(replies.error(err), private=True, outcome=outcome_of(err)), ctx)


async def confirmed(action: Confirmation, ctx: Context) -> Reply:
    """Carry out a destructive action the asker confirmed (a button press)."""
    try:
        if action.kind == "forget" and action.name is not None:
            await ctx.client.forget(ctx.who, action.name)
            return _observed(Reply(replies.forgotten(action.name)), ctx)
        ctx.pending.keep([])
        return _observed(Reply(replies.erasure(await ctx.client.erase(ctx.who)), private=True), ctx)
    except RapError as err:
        return _observed(Reply(replies.error(err), private=True, outcome=outcome_of(err)), ctx)


async def context_refusal(command: Command, ctx: Context) -> Reply | None:
    """What the context rules say to `command` here before any work (None: it may go on), for a
    frontend that does the work itself (the gallery's pages read structured results)."""
    refusal = await _context_refusal(command, ctx)
    return None if refusal is None else Reply(refusal[0], private=True, outcome=refusal[1])


async def _context_refusal(command: Command, ctx: Context) -> tuple[str, Outcome] | None:
    in_group = ctx.who.chat_kind == "group"
    if isinstance(command, GROUP_ONLY) and not in_group:
        return replies.need_group(name_of(command)), "invalid"
    if isinstance(command, PRIVATE_ONLY) and in_group:
        return replies.need_private(name_of(command)), "invalid"
    if isinstance(command, WRITES) and await _locked_for(ctx):
        return replies.locked(), "refused"
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
            return _remembered(result, ctx, name)
        case Feedback(correct, name):
            return await _feedback(ctx, correct, name)
        case Choose(choice, name):
            return await _choose(ctx, choice, name)
        case AddPhoto(name):
            images = await ctx.images()
            if not images:
                return Reply(replies.need_photo("addphoto"), private=True, refused=True)
            added = await add_photos(client, who, name, images, ctx.request_id)
            # Nothing added because a refusal about the concept or the service stopped the album at
            # its first photo: the album ends as that refusal does (403/404/503 on the web).
            stopped_first = added.stopped is not None and not added.added and not added.refused
            outcome = outcome_of(added.stopped[1]) if added.stopped is not None and stopped_first else "ok"
            return Reply(replies.photos_added(added), outcome=outcome)
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
        case grammar.PhotoIndex() | grammar.Find():
            from bot import indexing  # the photo index (docs/index.md)

            return Reply(await indexing.act(command, client, who))
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
        return Reply(replies.gallery_unavailable(), private=True, outcome="unavailable")
    base = ctx.gallery_url.rstrip("/")
    in_group = ctx.who.chat_kind == "group" and ctx.who.chat_id
    url = f"{base}/m/g{ctx.who.chat_id}" if in_group else f"{base}/m/me"
    mini_app = None if in_group else f"{base}/tg"
    button = LinkButton("Open the gallery", url, mini_app) if ctx.surface.buttons else None
    sign_in = ctx.gallery_sign_in() if ctx.gallery_sign_in is not None else None
    text = replies.gallery_link(url, sign_in, can_sign_in=ctx.gallery_sign_in is not None)
    return Reply(text, buttons=button, private=True)


def _annotated(result: AnswerResult, with_photo: bool) -> list[ReplyFile]:
    """The photo with the recognised concepts boxed, when a photo was asked about and something was seen."""
    seen = any(r.box is not None for r in result.recognised)
    if not (with_photo and seen and result.annotated_image):
        return []
    return [ReplyFile("rapbot-answer.jpg", result.annotated_image)]


def _remembered(result: RememberResult, ctx: Context, name: str) -> Reply:
    if result.status != "candidates" or result.pending_id is None:
        return Reply(replies.remember_result(result))  # any other remember still waiting keeps waiting
    waiting = ctx.pending.waiting()
    set_aside = waiting[: max(0, len(waiting) + 1 - MAX_WAITING)]
    waiting = waiting[len(set_aside) :]
    others = [w.name for w in waiting]
    ctx.pending.keep([*waiting, Waiting(name, result.pending_id)])
    photos = [ReplyFile("rapbot-candidates.jpg", result.annotated_image)] if result.annotated_image else []
    buttons = CandidateButtons(result.pending_id, result.candidates, name) if ctx.surface.buttons else None
    text = replies.candidates(result, buttons=ctx.surface.buttons, name=name or None, others=others)
    if set_aside:
        text += "\n" + replies.set_aside([w.name for w in set_aside])
    return Reply(text, photos=photos, buttons=buttons)


async def _choose(ctx: Context, choice: grammar.ChoiceValue, name: str | None) -> Reply:
    """`/choose N` for the remember the bot asked about last; `/choose bo N` for bo's."""
    waiting = ctx.pending.waiting()
    if not waiting:
        return Reply(replies.nothing_to_choose(), private=True, refused=True)
    if name is None:
        chosen = waiting[-1]
    else:
        named = [w for w in waiting if w.name.casefold() == name.casefold()]
        if not named:
            return Reply(replies.not_waiting(name, [w.name for w in waiting]), private=True, refused=True)
        chosen = named[-1]
    typed = ctx.surface.typed_commands
    try:
        result = await ctx.client.choose(ctx.who, chosen.pending_id, choice)
    except RapError as err:
        if err.code != NO_PENDING or not chosen.name:
            raise  # a number out of range keeps it waiting; an unnamed button's refusal is the worker's
        drop_waiting(ctx.pending, chosen.pending_id)
        others = [w.name for w in ctx.pending.waiting()]
        return Reply(replies.choice_expired(chosen.name, others), private=True, refused=True)
    drop_waiting(ctx.pending, chosen.pending_id)
    others = [w.name for w in ctx.pending.waiting()]
    return Reply(replies.chosen(result, chosen.name, others, typed=typed))
