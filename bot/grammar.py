"""The one command grammar of every frontend (console, Telegram, Discord).

`parse(text)` turns one chat message into a typed command, or raises `ParseError` whose message
is fit to show the user (it says what was wrong and gives a usage example). Text that is not a
command is a `Question`. `format_command(cmd)` writes a command back as text that parses to it.

One module (over 400 lines) on purpose: the command types, their parser and their formatter must
agree (format, then parse, gives the command back), which is easiest to keep true side by side.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# ---------------------------------------------------------------- command objects


@dataclass(frozen=True)
class Remember:
    name: str
    description: str


@dataclass(frozen=True)
class Forget:
    name: str


@dataclass(frozen=True)
class ListConcepts:
    page: int = 1  # 1-based


@dataclass(frozen=True)
class Show:
    name: str


@dataclass(frozen=True)
class Edit:
    name: str
    description: str


@dataclass(frozen=True)
class Rename:
    old: str
    new: str


@dataclass(frozen=True)
class Recategorise:
    name: str
    category: str


@dataclass(frozen=True)
class AddPhoto:
    name: str


@dataclass(frozen=True)
class Share:
    name: str


@dataclass(frozen=True)
class Export:
    pass


@dataclass(frozen=True)
class ForgetMe:
    """Erasing everything is asked for twice: `/forgetme`, then `/forgetme confirm`."""

    confirmed: bool = False


@dataclass(frozen=True)
class Lock:
    pass


@dataclass(frozen=True)
class Unlock:
    pass


@dataclass(frozen=True)
class Audit:
    limit: int = 20  # the newest events shown


@dataclass(frozen=True)
class Threshold:
    value: float | None = None  # None: show the current settings


@dataclass(frozen=True)
class Purge:
    member: str


@dataclass(frozen=True)
class AutoCaption:
    enabled: bool


ChoiceValue = int | Literal["whole", "cancel"]


@dataclass(frozen=True)
class Choose:
    """`/choose 2` for the photo the bot last asked about; `/choose bo 2` for the one waiting as bo."""

    choice: ChoiceValue
    name: str | None = None


@dataclass(frozen=True)
class Feedback:
    """`/yes [name]` or `/no [name]` about the last photo answer: was that really <name>? No name:
    the one concept it recognised."""

    correct: bool
    name: str | None = None


@dataclass(frozen=True)
class Help:
    topic: str | None = None  # a command name without the slash, e.g. "remember"


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Gallery:
    """A link to the web gallery of this chat's memory."""


@dataclass(frozen=True)
class PhotoIndex:
    """`/index` (its status), `/index on|off` (moderators in a group), `/index delete`, `/index keep
    90` (days a photo is kept), `/index thumbnails on|off`: the memory's opt-in index of the photos
    posted in the chat (docs/index.md). `value`: the days for keep, 1 or 0 for thumbnails."""

    action: Literal["status", "on", "off", "delete", "keep", "thumbnails"] = "status"
    value: int | None = None


@dataclass(frozen=True)
class Find:
    """`/find bo`, `/find bo at the beach`, `/find red bicycle`: search the chat's photo index."""

    query: str


@dataclass(frozen=True)
class Question:
    """Anything that is not a command: a question, or nothing (a bare photo asks for a caption)."""

    text: str


@dataclass(frozen=True)
class OtherBot:
    """`/cmd@otherbot` in a group: addressed to another bot, so every frontend ignores it."""

    username: str


Command = (
    Remember
    | Forget
    | ListConcepts
    | Show
    | Edit
    | Rename
    | Recategorise
    | AddPhoto
    | Share
    | Export
    | ForgetMe
    | Lock
    | Unlock
    | Audit
    | Threshold
    | Purge
    | AutoCaption
    | Choose
    | Feedback
    | Help
    | Start
    | Gallery
    | PhotoIndex
    | Find
    | Question
    | OtherBot
)


class ParseError(ValueError):
    """A message that looks like a command but cannot be understood. `message` is for the user
    (it ends with the usage line when there is one); `command` is the command name, if known."""

    def __init__(self, message: str, command: str | None = None, usage: str | None = None) -> None:
        full = f"{message}\nusage: {usage}" if usage else message
        super().__init__(full)
        self.message = full
        self.command = command
        self.usage = usage


class TooLong(ParseError):
    """A message, question or name over its limit (see the limits below). Raised for plain text
    too, not only for commands: frontends show `message` as it is."""


# ---------------------------------------------------------------- input limits
# Checked before anything is sent to the worker, so an over-long or out-of-range input gets a
# clear reply instead of a model or database error. Documented in docs/console.md.

MAX_MESSAGE_CHARS = 4096  # one whole message (Telegram's own limit for a text message)
MAX_QUESTION_CHARS = 2000  # a question: longer ones would be cut to fit the model's context
MAX_NAME_CHARS = 64  # a concept name, a category, a member id (the memory store's limit)
MAX_DESCRIPTION_CHARS = 2000  # the store's default RAPBOT_MAX_DESCRIPTION_CHARS (Discord's option limit)
MAX_PAGE = 100_000  # /concepts N: far beyond any memory (1,000 concepts per chat by default)
MAX_AUDIT = 50  # /audit N: events shown at most (Discord's option allows the same)
MAX_CHOICE = 100  # /choose N: a photo never offers more candidates (RAPBOT_MAX_CANDIDATES, default 6)
_MAX_NUMBER_DIGITS = 20  # numbers are read only up to this many characters (int() refuses > 4300)
_BOM = "\ufeff"  # a byte order mark (a script saved by some editors starts with one)


# ---------------------------------------------------------------- usage lines

USAGE: dict[str, str] = {
    "remember": "/remember bo: my shiba inu, loves chicken (with a photo)",
    "forget": "/forget bo",
    "concepts": "/concepts [page]",
    "show": "/show bo",
    "edit": "/edit bo: my shiba inu, now 3 years old",
    "rename": "/rename bo: bobo",
    "category": "/category bo: dog",
    "addphoto": "/addphoto bo (with a photo)",
    "share": "/share bo (in a group)",
    "export": "/export",
    "forgetme": "/forgetme, then /forgetme confirm",
    "lock": "/lock (group moderators)",
    "unlock": "/unlock (group moderators)",
    "audit": "/audit [how many, up to 50]",
    "threshold": "/threshold 0.75 (a number from 0 to 1; alone: show the settings)",
    "purge": "/purge MEMBER_ID (group moderators)",
    "autocaption": "/autocaption on|off",
    "choose": "/choose 2, /choose whole or /choose cancel; /choose bo 2 for the photo of bo",
    "yes": "/yes or /yes bo (after a photo answer: yes, that is bo)",
    "no": "/no or /no bo (after a photo answer: no, that is not bo)",
    "help": "/help [command]",
    "start": "/start",
    "gallery": "/gallery",
    "index": "/index on|off, /index delete, /index keep 90 (days), /index thumbnails on|off (moderators "
    "in a group), or /index alone for its status",
    "find": "/find bo, /find bo at the beach or /find red bicycle",
}

# ---------------------------------------------------------------- helpers

# `/name` or `/name@bot` as the first token; the rest of the message is the argument text.
_COMMAND_RE = re.compile(r"^(?P<name>[^\s@]+)(?:@(?P<bot>\S*))?(?:\s+(?P<args>.*))?$", re.DOTALL)
_SEPARATORS = (":", "：")  # ASCII and full-width colon (typed by CJK keyboards)
_MENTION_RE = re.compile(r"^<@!?(\d+)>$")  # a Discord user mention
_ON = {"on", "yes", "true", "1", "enable", "enabled"}
_OFF = {"off", "no", "false", "0", "disable", "disabled"}


def clean_name(raw: str) -> str:
    """A concept name as typed: outer whitespace and optional `<...>` brackets removed, inner runs
    of whitespace collapsed to one space, NFC-normalised. Case is kept (the store compares
    case-folded)."""
    name = unicodedata.normalize("NFC", " ".join(raw.split()))
    if len(name) >= 2 and name.startswith("<") and name.endswith(">"):
        name = " ".join(name[1:-1].split())
    return name


def _need_name(command: str, raw: str, what: str = "a name") -> str:
    name = clean_name(raw)
    if not name:
        raise ParseError(f"/{command} needs {what}.", command, USAGE[command])
    if any(sep in name for sep in _SEPARATORS):
        raise ParseError(f"/{command}: a name cannot contain a colon.", command, USAGE[command])
    _check_length(command, name, "a name", MAX_NAME_CHARS)
    return name


def _check_length(command: str, value: str, what: str, limit: int) -> None:
    if len(value) > limit:
        raise TooLong(
            f"/{command}: {what} can have at most {limit} characters (this one has {len(value)}).",
            command,
            USAGE[command],
        )


def _small_number(word: str, limit: int) -> int | None:
    """`word` as a whole number from 1 to `limit`; 0 for a number outside that range (too large, or
    0); None when it is not a number at all. Any Unicode decimal digits count (as int() reads them)."""
    if not word.isdecimal():
        return None
    if len(word) > _MAX_NUMBER_DIGITS:
        return 0
    value = int(word)
    return value if 1 <= value <= limit else 0


def _split_colon(command: str, args: str, what: str) -> tuple[str, str]:
    """Split `name: rest` at the first colon (ASCII or full-width)."""
    positions = [args.find(sep) for sep in _SEPARATORS if sep in args]
    if not positions:
        raise ParseError(f"/{command} needs a colon after the name, then {what}.", command, USAGE[command])
    cut = min(positions)
    return _need_name(command, args[:cut]), args[cut + 1 :].strip()


def _no_args(command: str, args: str) -> None:
    if args:
        raise ParseError(f"/{command} takes no arguments.", command, USAGE[command])


def _parse_choice(args: str) -> ChoiceValue:
    word = args.strip().lower()
    if word in ("whole", "cancel"):
        return word  # type: ignore[return-value]
    number = _small_number(word, MAX_CHOICE)
    if number:
        return number
    if number == 0 and word.strip("0"):
        raise ParseError(
            f"/choose: there is no object number {_shown(word)}; pick one of the numbers I listed.",
            "choose",
            USAGE["choose"],
        )
    if not word:
        raise ParseError("/choose needs a number, whole or cancel.", "choose", USAGE["choose"])
    raise ParseError(f"/choose: {_shown(args.strip())!r} is not a number, whole or cancel.", "choose", USAGE["choose"])


def _parse_choose(args: str) -> Choose:
    """`/choose 2`, or `/choose bo 2` (`/choose <big bo> whole`) naming the photo waiting as bo: the last
    word is the choice, and the words before it, when any, the concept's name."""
    words = args.split()
    if len(words) >= 2:
        return Choose(_parse_choice(words[-1]), _need_name("choose", args.strip()[: -len(words[-1])]))
    return Choose(_parse_choice(args))


def _parse_threshold(args: str) -> float | None:
    if not args:
        return None
    try:
        value = float(args.replace(",", ".", 1)) if len(args) <= 64 else float("nan")
    except ValueError:
        raise ParseError(f"/threshold: {_shown(args)!r} is not a number.", "threshold", USAGE["threshold"]) from None
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise ParseError("/threshold must be between 0 and 1.", "threshold", USAGE["threshold"])
    return value


def _parse_page(args: str) -> int:
    if not args:
        return 1
    number = _small_number(args, MAX_PAGE)
    if number:
        return number
    if number == 0 and args.strip("0"):
        raise ParseError(
            f"/concepts: page {_shown(args)} is too far: page numbers go up to {MAX_PAGE:,}, and /concepts "
            "alone shows how many pages there are.",
            "concepts",
            USAGE["concepts"],
        )
    raise ParseError(f"/concepts: {_shown(args)!r} is not a page number (1, 2, ...).", "concepts", USAGE["concepts"])


def _shown(text: str, limit: int = 24) -> str:
    """User input echoed in a reply, cut short so that a huge input does not make a huge reply."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_member(args: str) -> str:
    member = args.strip()
    mention = _MENTION_RE.match(member)
    if mention:
        member = mention.group(1)
    member = member.removeprefix("@")
    if not member or any(ch.isspace() for ch in member):
        raise ParseError("/purge needs one member id.", "purge", USAGE["purge"])
    _check_length("purge", member, "a member id", MAX_NAME_CHARS)
    return member


def _parse_audit_limit(args: str) -> int:
    if not args:
        return Audit().limit
    number = _small_number(args, MAX_AUDIT)
    if not number:
        raise ParseError(f"/audit: give a number of events from 1 to {MAX_AUDIT}.", "audit", USAGE["audit"])
    return number


def _parse_switch(args: str) -> bool:
    word = args.strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise ParseError("/autocaption needs on or off.", "autocaption", USAGE["autocaption"])


MAX_INDEX_DAYS = 3650  # /index keep N: the store's limit (memory/index_types.py)


def _parse_index(args: str) -> PhotoIndex:
    words = args.strip().lower().split()
    if not words:
        return PhotoIndex("status")
    word, rest = words[0], words[1:]
    if word in _ON and not rest:
        return PhotoIndex("on")
    if word in _OFF and not rest:
        return PhotoIndex("off")
    if word in ("delete", "clear", "purge") and not rest:
        return PhotoIndex("delete")
    if word == "keep" and len(rest) == 1:
        days = _small_number(rest[0].removesuffix("d"), MAX_INDEX_DAYS)
        if days:
            return PhotoIndex("keep", days)
        raise ParseError(f"/index keep: give a number of days from 1 to {MAX_INDEX_DAYS}.", "index", USAGE["index"])
    if word == "thumbnails" and len(rest) == 1 and rest[0] in _ON | _OFF:
        return PhotoIndex("thumbnails", 1 if rest[0] in _ON else 0)
    raise ParseError(
        "/index takes on, off, delete, keep DAYS or thumbnails on|off (alone: its status).", "index", USAGE["index"]
    )


# ---------------------------------------------------------------- the parser


def parse(text: str, bot_username: str | None = None, prefix: str = "/") -> Command:
    """Parse one chat message. `bot_username` (without @) lets `/cmd@name` addressed to another
    bot come back as `OtherBot`; `prefix` is the command prefix (Discord text commands may use !)."""
    stripped = text.strip().removeprefix(_BOM).strip()
    if len(stripped) > MAX_MESSAGE_CHARS:
        raise TooLong(
            f"that message is too long: {len(stripped):,} characters, and I read at most {MAX_MESSAGE_CHARS:,}. "
            "Please send a shorter one.",
            None,
        )
    if not stripped.startswith(prefix) or stripped == prefix:
        if len(stripped) > MAX_QUESTION_CHARS:
            raise TooLong(
                f"that question is too long: {len(stripped):,} characters, and I read at most "
                f"{MAX_QUESTION_CHARS:,}. Please ask a shorter one.",
                None,
            )
        return Question(stripped)
    match = _COMMAND_RE.match(stripped[len(prefix) :])
    if match is None:  # pragma: no cover - the pattern matches any non-empty text
        return Question(stripped)
    command = match.group("name").lower()
    addressed_to = match.group("bot")
    args = (match.group("args") or "").strip()
    if addressed_to is not None and bot_username is not None and addressed_to.lower() != bot_username.lower():
        return OtherBot(addressed_to)
    if command not in USAGE:
        raise ParseError(f"unknown command {prefix}{match.group('name')}; try {prefix}help", None)
    return _build(command, args)


def _build(command: str, args: str) -> Command:
    if command == "remember":
        name, description = _split_colon(command, args, "a description")
        _check_length(command, description, "a description", MAX_DESCRIPTION_CHARS)
        return Remember(name, description)
    if command == "edit":
        name, description = _split_colon(command, args, "the new description")
        if not description:
            raise ParseError("/edit needs the new description after the colon.", command, USAGE[command])
        _check_length(command, description, "a description", MAX_DESCRIPTION_CHARS)
        return Edit(name, description)
    if command == "rename":
        old, new = _split_colon(command, args, "the new name")
        return Rename(old, _need_name(command, new, "the new name after the colon"))
    if command == "category":
        name, category = _split_colon(command, args, "the category")
        if not category:
            raise ParseError("/category needs a category after the colon.", command, USAGE[command])
        category = " ".join(category.split())
        _check_length(command, category, "a category", MAX_NAME_CHARS)
        return Recategorise(name, category)
    if command == "index":
        return _parse_index(args)
    if command == "find":
        if not args:
            raise ParseError("/find needs what to look for.", command, USAGE[command])
        _check_length(command, args, "a search", MAX_QUESTION_CHARS)
        return Find(" ".join(args.split()))
    if command == "forget":
        return Forget(_need_name(command, args))
    if command == "show":
        return Show(_need_name(command, args))
    if command == "addphoto":
        return AddPhoto(_need_name(command, args))
    if command == "share":
        return Share(_need_name(command, args))
    if command == "concepts":
        return ListConcepts(_parse_page(args))
    if command == "threshold":
        return Threshold(_parse_threshold(args))
    if command == "purge":
        return Purge(_parse_member(args))
    if command == "autocaption":
        return AutoCaption(_parse_switch(args))
    if command == "choose":
        return _parse_choose(args)
    if command in ("yes", "no"):
        return Feedback(command == "yes", _need_name(command, args) if args else None)
    if command == "forgetme":
        if args and args.lower() != "confirm":
            raise ParseError("/forgetme takes only the word confirm.", command, USAGE[command])
        return ForgetMe(confirmed=bool(args))
    if command == "help":
        topic = args.lower().removeprefix("/").split()[0] if args else None
        return Help(topic)
    if command == "start":
        return Start()  # Telegram deep links may carry a payload: ignored
    if command == "audit":
        return Audit(_parse_audit_limit(args))
    simple: dict[str, Command] = {"export": Export(), "lock": Lock(), "unlock": Unlock(), "gallery": Gallery()}
    _no_args(command, args)
    return simple[command]


# ---------------------------------------------------------------- the inverse


def format_command(cmd: Command) -> str:
    """The text a user would type for `cmd`; `parse(format_command(cmd)) == cmd` for valid commands."""
    match cmd:
        case Remember(name, description):
            return f"/remember {name}: {description}".rstrip()
        case Edit(name, description):
            return f"/edit {name}: {description}"
        case Rename(old, new):
            return f"/rename {old}: {new}"
        case Recategorise(name, category):
            return f"/category {name}: {category}"
        case Forget(name):
            return f"/forget {name}"
        case Show(name):
            return f"/show {name}"
        case AddPhoto(name):
            return f"/addphoto {name}"
        case Share(name):
            return f"/share {name}"
        case ListConcepts(page):
            return f"/concepts {page}"
        case Threshold(value):
            return "/threshold" if value is None else f"/threshold {value!r}"
        case Purge(member):
            return f"/purge {member}"
        case AutoCaption(enabled):
            return f"/autocaption {'on' if enabled else 'off'}"
        case Choose(choice, name):
            return f"/choose {name} {choice}" if name else f"/choose {choice}"
        case Feedback(correct, name):
            word = "/yes" if correct else "/no"
            return f"{word} {name}" if name else word
        case ForgetMe(confirmed):
            return "/forgetme confirm" if confirmed else "/forgetme"
        case Help(topic):
            return f"/help {topic}" if topic else "/help"
        case Start():
            return "/start"
        case PhotoIndex(action, value):
            if action == "keep":
                return f"/index keep {value}"
            if action == "thumbnails":
                return f"/index thumbnails {'on' if value else 'off'}"
            return "/index" if action == "status" else f"/index {action}"
        case Find(query):
            return f"/find {query}"
        case Gallery():
            return "/gallery"
        case Export():
            return "/export"
        case Lock():
            return "/lock"
        case Unlock():
            return "/unlock"
        case Audit(limit):
            return "/audit" if limit == Audit().limit else f"/audit {limit}"
        case Question(text):
            return text
        case OtherBot(username):
            return f"/help@{username}"
    raise TypeError(f"not a command: {cmd!r}")  # pragma: no cover
