"""Plain-text replies shared by every frontend (console, Telegram, Discord).

Each function renders one result or error of the worker's client API as text a user reads. No
markup: a frontend escapes the text for its own parse mode. Nothing here ever shows a secret:
errors are rendered from `RapError.message`, which the worker writes for users.

One module (over 400 lines) on purpose: every sentence rapbot says is here, so the wording stays
consistent and is reviewed in one place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.grammar import (
    USAGE,
    AddPhoto,
    AutoCaption,
    Choose,
    Command,
    Edit,
    Forget,
    ForgetMe,
    Lock,
    ParseError,
    Purge,
    Recategorise,
    Remember,
    Rename,
    Share,
    Threshold,
    Unlock,
)
from bot.photos import PhotosAdded
from bot.settings import CONSOLE_LINK_MAX_AGE_S as LINK_MAX_AGE_S
from worker.errors import NO_PENDING, RapError
from worker.schemas import (
    AnswerResult,
    AuditItem,
    ConceptDetail,
    ConceptPage,
    ConceptSummary,
    ErasureSummary,
    GroupSettings,
    Recognised,
    RememberResult,
)

# ---------------------------------------------------------------- help

# (command, what it does): the help text, and the command menus frontends register (e.g. Telegram's).
COMMAND_SUMMARIES: tuple[tuple[str, str], ...] = (
    ("remember", "remember a thing or person from this photo"),
    ("addphoto", "add another photo of it"),
    ("concepts", "list what I remember"),
    ("show", "show one, with its photos"),
    ("edit", "change its description"),
    ("rename", "rename it"),
    ("category", "change its category"),
    ("forget", "forget it"),
    ("share", "copy one of yours into this group"),
    ("choose", "pick which object you meant when I ask"),
    ("yes", "yes, I recognised it right: I learn it as another photo"),
    ("no", "no, that is not it: I stop calling it that"),
    ("gallery", "see this chat's memory as a photo gallery"),
    ("find", "find photos posted in this chat (once /index is on)"),
    ("index", "index the photos posted in this chat, to /find them later"),
    ("export", "download everything you stored"),
    ("forgetme", "erase everything about you"),
    ("lock", "only moderators may change this group's memory"),
    ("unlock", "everyone may change this group's memory"),
    ("threshold", "how sure I must be to recognise something"),
    ("autocaption", "caption every photo sent to this group"),
    ("audit", "who changed what, and when"),
    ("purge", "remove one member's contributions"),
)
_HELP_LINES = COMMAND_SUMMARIES  # older name, still imported by bot/telegram_bot/app.py


def help_text(topic: str | None = None) -> str:
    """The command list with examples, or the usage of one command (`topic` without a slash)."""
    if topic is not None:
        key = topic.lower().removeprefix("/")
        if key in USAGE:
            what = dict(COMMAND_SUMMARIES).get(key, "")
            return f"/{key}: {what}\nusage: {USAGE[key]}" if what else f"usage: {USAGE[key]}"
    lines = [
        "I remember your things and people from one photo each, then recognise them in new photos.",
        "Send a photo to get a caption; a photo with a question asks about it;",
        "a question alone (e.g. what does <bo> like?) uses what I remember.",
        "",
        "Commands:",
    ]
    lines += [f"  {USAGE[name]}  - {what}" for name, what in COMMAND_SUMMARIES]
    lines.append("In a group I use the group's shared memory; in a private chat, yours.")
    return "\n".join(lines)


def gallery_link(url: str, sign_in: str | None = None, can_sign_in: bool = False) -> str:
    """The gallery's link; `sign_in`: a link that signs the asker in (the console's); `can_sign_in`:
    the frontend makes such links, but the secret they are signed with is not set, so say what to set."""
    text = f"This chat's memory as a photo gallery: {url}"
    if sign_in is not None:
        text += f"\nTo sign in, open this link within {LINK_MAX_AGE_S // 60} minutes (it works once): {sign_in}"
    elif can_sign_in:
        text += (
            "\nTo sign in from here, set the same RAPBOT_WEB_SESSION_SECRET (at least 32 characters, e.g. "
            f"$(openssl rand -hex 32)) for {_rapbot()} web and for this console, and restart both: "
            "/gallery then adds a sign-in link. See docs/gallery.md."
        )
    return text


def gallery_unavailable() -> str:
    return (
        "The photo gallery is not set up on this bot. Its operator turns it on with rapbot web "
        "and RAPBOT_WEB_PUBLIC_URL (docs/gallery.md)."
    )


def start_text() -> str:
    return (
        "Hi! Send me a photo captioned /remember bo: my shiba inu, and I will recognise bo from then on.\n"
        "Send /help for every command."
    )


def parse_error(err: ParseError) -> str:
    return err.message


# ---------------------------------------------------------------- remember / choose


def concept_line(concept: ConceptSummary) -> str:
    """`<bo> (dog): my shiba inu [2 photos]`"""
    photos = "1 photo" if concept.view_count == 1 else f"{concept.view_count} photos"
    description = concept.description or "(no description)"
    return f"<{concept.name}> ({concept.category}): {description} [{photos}]"


def remember_result(result: RememberResult, name: str | None = None) -> str:
    """Stored, candidates to choose from (chosen by typing /choose), or cancelled (`name`: the
    concept's, said in the cancel and the question)."""
    if result.status == "stored" and result.concept is not None:
        line = f"remembered {concept_line(result.concept)}"
        if result.views_added > 1:
            line += f"\n{result.views_added} photos stored as views of <{result.concept.name}>."
        if result.lookalikes:  # its photo would be recognised as another concept too (docs/index.md)
            others = " and ".join(f"<{other}>" for other in result.lookalikes)
            line += (
                f"\nCareful: this photo also looks like {others} to me. Add more photos of "
                f"<{result.concept.name}> (/addphoto), and answer /yes or /no when I recognise them."
            )
        return line
    if result.status == "candidates":
        return candidates(result, buttons=False, name=name)
    return f"cancelled: nothing was stored for <{name}>." if name else "cancelled: nothing was stored."


def candidates(result: RememberResult, buttons: bool, name: str | None = None, others: Sequence[str] = ()) -> str:
    """Which of the numbered objects is `name`: pressed with buttons, or typed with /choose. `others`:
    the names of the remembers still waiting in this chat besides this one (the latest)."""
    subject = f"this photo for <{name}>" if name else "this photo"
    lines = [f"I see several things in {subject}. Which one did you mean?"]
    indent = "" if buttons else "  "
    lines += [f"{indent}{c.index}. {c.label} ({c.score:.2f})" for c in result.candidates]
    if buttons:
        lines.append("Press its number, whole photo, or cancel.")
    else:
        lines.append("Reply /choose N, /choose whole for the whole photo, or /choose cancel.")
    if others:
        lines.append(still_waiting(others, typed=not buttons))
    return "\n".join(lines)


def still_waiting(names: Sequence[str], typed: bool = True) -> str:
    """The remembers that still wait for a choice in this chat, and how to choose for one of them."""
    listed = ", ".join(f"<{name}>" if name else "a photo" for name in names)
    if not typed:
        return f"also waiting for your choice: {listed} (press a number under its photo)."
    example = next((name for name in reversed(names) if name), None)
    how = f"; /choose {example} N picks for <{example}>" if example else ""
    return f"also waiting for your choice: {listed}{how}."


def chosen(result: RememberResult, name: str, others: Sequence[str], typed: bool = True) -> str:
    """The outcome of /choose for `name`, then the remembers still waiting, when any."""
    text = remember_result(result, name or None)
    return f"{text}\n{still_waiting(others, typed)}" if others else text


def set_aside(names: Sequence[str]) -> str:
    """More remembers waiting than a chat keeps (bot.dispatch.MAX_WAITING): the oldest were set aside."""
    listed = ", ".join(f"<{name}>" if name else "a photo" for name in names)
    return f"(too many photos wait for a choice: {listed} no longer waits; send it again with /remember.)"


def nothing_to_choose() -> str:
    return "There is nothing to choose right now: send a photo with /remember first."


def not_waiting(name: str, names: Sequence[str]) -> str:
    """`/choose bo 2` when no photo of bo waits for a choice."""
    listed = ", ".join(f"<{known}>" for known in names if known) or "a photo"
    return f"No photo of <{name}> is waiting for your choice (waiting: {listed})."


def choice_expired(name: str, others: Sequence[str]) -> str:
    """/choose for a remember the worker no longer holds (it waited longer than RAPBOT_PENDING_TTL_S)."""
    text = (
        f"The photo for <{name}> waited too long for your choice and has expired: nothing was stored.\n"
        f"Send it again with /remember {name}: ..."
    )
    return f"{text}\n{still_waiting(others)}" if others else text


# ---------------------------------------------------------------- answers


def recognised_line(recognised: Sequence[Recognised]) -> str:
    """`recognised: <bo> 0.91, <dug> 0.84`; a concept named in the text, not seen: `<bo> (named)`."""
    if not recognised:
        return "recognised: none"
    parts = [f"<{r.name}> (named)" if r.similarity is None else f"<{r.name}> {r.similarity:.2f}" for r in recognised]
    return "recognised: " + ", ".join(parts)


MEMORY_UPDATING = (
    "This memory is being updated for a new image model: things remembered before the change "
    "are not recognised in photos until that is done. Nothing is lost; try again later."
)


def answer(result: AnswerResult, with_photo: bool) -> str:
    """The generated text (after a plain "yes" or "no" when it answers a yes/no question); for a photo,
    followed by the recognised line, what the answer marked on the photo (its boxes are numbers in the
    text), and why recognition may miss things while the memory is being re-embedded."""
    text = result.text.strip() or "(no answer)"
    lines = [text] if result.yes_no is None else ["yes" if result.yes_no else "no", text]
    if with_photo:
        lines.append(recognised_line(result.recognised))
        if result.grounded:
            marked = ", ".join(f"<{g.name}>" if g.name else "a box" for g in result.grounded)
            lines.append(f"marked on the photo: {marked}")
        if result.memory_updating:
            lines.append(MEMORY_UPDATING)
    if result.unknown:
        listed = ", ".join(f"<{name}>" for name in result.unknown)
        lines.append(f"I know nothing called {listed} here (/concepts lists what I know).")
    if result.dropped:
        lines.append("left out to fit: " + ", ".join(f"<{name}>" for name in result.dropped))
    for group in result.lookalikes:  # two concepts within the look-alike margin on one crop (docs/index.md)
        lines.append("not sure which: " + " or ".join(f"<{name}>" for name in group) + " (they look alike to me)")
    if result.left_out:  # recognised beyond how many concepts the model takes per photo
        lines.append("also saw but left out: " + ", ".join(f"<{name}>" for name in result.left_out))
    return "\n".join(lines)


# ---------------------------------------------------------------- yes / no after a photo answer


def feedback_hint(names: Sequence[str]) -> str:
    """Under a photo answer, where there are no buttons to press."""
    if len(names) == 1:
        return f"is that <{names[0]}>? /yes or /no teaches me."
    return f"right? /yes NAME or /no NAME teaches me, e.g. /no {names[0]}"


def feedback_done(concept: ConceptSummary, correct: bool) -> str:
    """What a yes / no learned: a photo of the concept, or a face of it (when it was recognised by
    face), or a negative, with the counts after it."""
    counts = f"photos: {photo_counts(concept)}"
    if concept.face_count is not None:
        faces = "1 face" if concept.face_count == 1 else f"{concept.face_count} faces"
        if correct:
            return f"thanks: I added that face to <{concept.name}> ({faces}; {counts})."
        return (
            f"noted: that face is not <{concept.name}>, and I will not call it <{concept.name}> again "
            f"(kept as a negative face; {counts}; {faces})."
        )
    if correct:
        return f"thanks: I added that photo to <{concept.name}> ({counts})."
    return f"noted: that is not <{concept.name}>, and I will not call it <{concept.name}> again ({counts})."


def nothing_to_confirm() -> str:
    return "There is nothing to say yes or no to: /yes and /no answer the last photo I recognised something in."


def which_to_confirm(names: Sequence[str], correct: bool) -> str:
    word = "/yes" if correct else "/no"
    listed = ", ".join(f"<{name}>" for name in names)
    return f"I recognised {listed} in that photo: say which, e.g. {word} {names[0]}"


def not_in_last_answer(name: str, names: Sequence[str]) -> str:
    listed = ", ".join(f"<{known}>" for known in names)
    return f"I did not recognise <{name}> in the last photo (I saw {listed})."


# ---------------------------------------------------------------- concepts


def how_to_ask() -> str:
    return "Send me a photo, or ask a question (e.g. what does <bo> like?). /help lists every command."


def one_photo_at_a_time() -> str:
    return "One photo at a time, please: ask about a single photo."


def concept_page(page: ConceptPage, typed: bool = True) -> str:
    """One page of the list; `typed`: the next page is asked for as `/concepts 2`, else as the
    slash command's option `/concepts page:2`."""
    if page.total == 0:
        return "I remember nothing here yet. Try /remember bo: my shiba inu with a photo."
    if not page.items:
        return f"no such page: there are {page_count(page)} page(s)."
    number = page.offset // max(page.limit, 1) + 1
    lines = [f"{page.total} remembered (page {number} of {page_count(page)}):"]
    lines += [f"  {concept_line(item)}" for item in page.items]
    if number < page_count(page):
        lines.append(f"next: /concepts {number + 1}" if typed else f"next: /concepts page:{number + 1}")
    return "\n".join(lines)


def page_count(page: ConceptPage) -> int:
    return max(1, -(-page.total // max(page.limit, 1)))


def concept_detail(detail: ConceptDetail) -> str:
    c = detail.concept
    return "\n".join(
        [
            f"<{c.name}>",
            f"category: {c.category}",
            f"description: {c.description or '(none)'}",
            f"photos: {photo_counts(c)}",
            f"added by {c.created_by} on {_when(c.created_at)}; changed {_when(c.updated_at)}",
        ]
    )


def photo_counts(concept: ConceptSummary) -> str:
    """`2, 1 negative`: its own photos, and the crops the user said are not it (when any)."""
    if not concept.negative_count:
        return str(concept.view_count)
    negatives = "1 negative" if concept.negative_count == 1 else f"{concept.negative_count} negatives"
    return f"{concept.view_count}, {negatives}"


def edited(concept: ConceptSummary) -> str:
    return f"updated {concept_line(concept)}"


def renamed(old: str, concept: ConceptSummary) -> str:
    return f"renamed <{old}> to <{concept.name}>"


def recategorised(concept: ConceptSummary) -> str:
    return f"<{concept.name}> is now in category {concept.category}"


def photo_added(concept: ConceptSummary) -> str:
    return f"added a photo to {concept_line(concept)}"


def photos_added(outcome: PhotosAdded) -> str:
    """What /addphoto with several photos did: how many were added, and which were not, and why."""
    added, total = len(outcome.added), outcome.total
    if outcome.concept is not None and added == total:
        return (
            photo_added(outcome.concept) if total == 1 else f"added {total} photos to {concept_line(outcome.concept)}"
        )
    if outcome.concept is not None and added:
        lines = [f"added {added} of {total} photos to {concept_line(outcome.concept)}"]
    else:
        lines = [f"none of the {total} photos was added to <{outcome.name}>."]
    refusals = sorted([*outcome.refused, *([outcome.stopped] if outcome.stopped is not None else [])])
    for number, err in refusals:
        lines.append(f"photo {number} not added: {_one_line(error(err))}")
    if outcome.stopped is not None and outcome.not_tried:
        stopped_at = outcome.stopped[0]
        lines.append(f"not tried: {_numbers(outcome.not_tried)} (photo {stopped_at}'s refusal holds for them too).")
    return "\n".join(lines)


def _numbers(numbers: Sequence[int]) -> str:
    """`photo 4`, `photos 4 and 5`, `photos 4 to 7`."""
    if len(numbers) == 1:
        return f"photo {numbers[0]}"
    if len(numbers) == 2:
        return f"photos {numbers[0]} and {numbers[1]}"
    return f"photos {numbers[0]} to {numbers[-1]}"


def _rapbot() -> str:
    """The rapbot command as the operator types it (`scripts/rapbot` sets RAPBOT_INVOKED_AS)."""
    return os.environ.get("RAPBOT_INVOKED_AS", "").strip() or "rapbot"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def forget_confirm(concept: ConceptSummary) -> str:
    return f"Forget {concept_line(concept)}? This cannot be undone."


def forgotten(name: str) -> str:
    return f"forgot <{name}>"


def shared(concept: ConceptSummary) -> str:
    return f"shared <{concept.name}> into this group"


def need_photo(command: str) -> str:
    return f"/{command} needs a photo: send it with the photo attached.\nusage: {USAGE[command]}"


def need_group(command: str) -> str:
    return f"/{command} works only in a group chat."


def need_private(command: str) -> str:
    return f"/{command} works only in a private chat with me, to keep your data private."


def locked() -> str:
    return (
        "This group's memory is locked: only its moderators may add, change or forget things.\n"
        "Ask a moderator of this group."
    )


# ---------------------------------------------------------------- settings, audit, erasure


def settings(current: GroupSettings) -> str:
    return (
        f"locked: {'yes' if current.locked else 'no'}\n"
        f"threshold: {current.similarity_threshold:.2f}\n"
        f"autocaption: {'on' if current.auto_caption else 'off'}"
    )


def settings_changed(current: GroupSettings) -> str:
    return "settings saved.\n" + settings(current)


def audit_lines(items: Sequence[AuditItem]) -> str:
    """One line per event, newest as given: `2026-11-22 03:10 UTC  alice  add  <bo>`."""
    if not items:
        return "no changes recorded yet."
    lines = []
    for item in items:
        who = item.actor if item.actor is not None else "(erased user)"
        what = f"<{item.concept}>" if item.concept else ""
        extra = ", ".join(f"{key}={value}" for key, value in sorted(item.details.items()))
        line = f"{_when(item.at)}  {who}  {item.action}  {what}".rstrip()
        lines.append(f"{line}  ({extra})" if extra else line)
    return "\n".join(lines)


def forgetme_confirm(typed: bool = True) -> str:
    """`typed`: the user confirms by typing /forgetme confirm (or a button, where there is one)."""
    warning = (
        "This erases everything you stored on this platform, and your contributions to groups. It cannot be undone."
    )
    return warning + "\nSend /forgetme confirm to go ahead." if typed else warning


def erasure(summary: ErasureSummary) -> str:
    return (
        f"erased: {summary.concepts_deleted} concept(s), {summary.views_deleted} photo(s), "
        f"{summary.scopes_deleted} memory scope(s)."
    )


def purged(member: str, count: int) -> str:
    return f"removed {count} concept(s) contributed by {member}."


def export_ready(size: int) -> str:
    return f"Everything you stored: a zip of JSON and images ({_size(size)})."


def image_written(path: str) -> str:
    return f"image: {path}"


# ---------------------------------------------------------------- errors

_HINTS: dict[str, str] = {
    NO_PENDING: "Send the photo with /remember again.",
    "unknown_concept": "See /concepts for the names I know.",
    "permission_denied": "Ask a moderator of this group.",
}


def error(err: RapError) -> str:
    """The worker's user-facing message, with a hint about what to do next when there is one."""
    hint = _HINTS.get(err.code)
    message = err.message.strip() or "something went wrong."
    return f"{message}\n{hint}" if hint and hint not in message else message


def unexpected_error() -> str:
    """For an exception that is not a RapError, where nothing can have changed (a read, or a failure
    before any request was sent): never shows its text (it may hold secrets)."""
    return "sorry, something went wrong on my side; nothing was changed. Please try again."


def unconfirmed_error(check: str | None, sending: bool = False) -> str:
    """For an exception after a change was asked of the worker (or while sending the reply to one):
    whether the change was made is not known, so say how to find out instead of "nothing was changed".
    `check` is the command that tells (e.g. "/show bo"); `sending`: only the reply failed to go out."""
    first = (
        "sorry, I could not send my reply."
        if sending
        else "sorry, something went wrong on my side, and I cannot tell whether your change was made."
    )
    if sending:
        first += " Your request may have been carried out."
    how = f"{check} tells whether it was." if check else "/concepts tells what I remember now."
    return f"{first}\nPlease check before trying again: {how}"


def check_command(command: Command) -> str | None:
    """For a command that changes the memory, the command that shows whether it did; None for one
    that changes nothing (a question, a listing, help...)."""
    match command:
        case Remember(name) | AddPhoto(name) | Edit(name) | Recategorise(name) | Forget(name) | Share(name):
            return f"/show {name}"
        case Rename(_, new):
            return f"/show {new}"
        case Choose() | Purge():
            return "/concepts"
        case ForgetMe(True):
            return "/export"
        case Lock() | Unlock() | Threshold(float()) | AutoCaption():
            return "/threshold"
    return None


def rate_limited(retry_after_s: float) -> str:
    seconds = max(1, round(retry_after_s))
    return f"slow down a little: try again in {seconds} s."


# ---------------------------------------------------------------- helpers


def _when(at: datetime | None) -> str:
    if at is None:
        return "(unknown time)"
    # Naive times from the store are UTC already; aware ones are converted.
    utc = at.astimezone(UTC) if at.tzinfo is not None else at
    return utc.strftime("%Y-%m-%d %H:%M UTC")


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{max(1, size // 1000)} kB"
