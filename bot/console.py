"""The console frontend: one line is one chat message.

A token `@PATH` (or `@"path with spaces"`) attaches that image file. `/remember bo: a shiba inu
@bo.jpg` remembers, `@park.jpg what is <bo> doing?` asks about a photo, `@park.jpg` alone captions
it, and text alone is a text-only question. Images the bot sends back (annotated answers, candidate
boxes, /show photos, /export zips) are written to an output folder and their paths printed.

A bad line (missing file, unknown command, unknown name...) gets a clear reply and the session
goes on; on a TTY the prompt has history, otherwise lines are read until EOF.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot import replies
from bot.dispatch import Context, HeldAnswer, HeldChoice, Reply, Surface, dispatch, parse_error_reply
from bot.grammar import AddPhoto, Command, ParseError, Question, Remember, parse
from bot.indexing import index_posted
from bot.settings import ConsoleSettings
from bot.startup import StartupError
from bot.startup import open_client as open_configured
from bot.web.console_signin import sign_in_link
from bot.web.settings import WebSettings
from worker.client import RapClient
from worker.errors import RapError
from worker.schemas import Requester

logger = logging.getLogger(__name__)

PLATFORM = "console"
# No buttons: a /forget typed is its own confirmation, candidates are picked with /choose N.
CONSOLE_SURFACE = Surface(buttons=False, typed_commands=True)
QUIT_WORDS = frozenset({"/quit", "/exit"})

# `@path`, `@"path with spaces"` or `@'path'`, starting a word (so e@mail.com is text).
_ATTACHMENT_RE = re.compile(r"""(?:(?<=\s)|^)@(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>\S+))""")
# A bare `@word` that ends like an image file is meant as one (a typo in it gets "no such file").
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic"})
_BOM = "\ufeff"
# Lone surrogates: what bytes that are not UTF-8 become when decoded with "surrogateescape".
_SURROGATES = re.compile("[\ud800-\udfff]")


class LineError(Exception):
    """A line the console itself cannot send (e.g. a missing file); the message is for the user."""


@dataclass(frozen=True)
class Message:
    """One console line split into its text and the image files it attaches."""

    text: str
    paths: list[Path]


def split_attachments(line: str) -> Message:
    """Take the `@PATH` tokens out of a line. An `@` token is a file when it is quoted
    (`@"my photos/bo.jpg"`), is the line's last token, names an existing file or folder, or looks
    like a path (has a `/` or ends in an image suffix such as .jpg). Any other `@word` is text: a
    handle in a description (`/remember c: follows @bo_shiba @c.jpg`). `/purge @member` keeps its @:
    it names a member. Raises LineError for an empty quoted path."""
    if line.lstrip().lower().startswith("/purge"):
        return Message(line.strip(), [])
    end = len(line.rstrip())
    paths: list[Path] = []

    def take(match: re.Match[str]) -> str:
        quoted = match.group("dq") is not None or match.group("sq") is not None
        raw = match.group("dq") or match.group("sq") or match.group("bare") or ""
        if quoted and not raw.strip():
            raise LineError('an @ needs a file path after it, e.g. @bo.jpg or @"my photos/bo.jpg"')
        if not (quoted or match.end() == end or _looks_like_file(raw)):
            return match.group(0)  # a handle or any other @word: part of the text
        paths.append(Path(raw).expanduser())
        return " "

    text = " ".join(_ATTACHMENT_RE.sub(take, line).split())
    return Message(text, paths)


def _looks_like_file(raw: str) -> bool:
    path = Path(raw).expanduser()
    if "/" in raw or path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte...
        return False


def clean_line(line: str) -> str:
    """A line as typed or piped, without a leading byte order mark (scripts saved by some editors
    start with one). Raises LineError for a line that held bytes that are not UTF-8 (read with
    "surrogateescape"): acting on a guess could store garbled text."""
    line = line.removeprefix(_BOM)
    if _SURROGATES.search(line) is None:
        return line
    try:
        shown = line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        shown = _SURROGATES.sub("\ufffd", line)
    shown = " ".join(shown.split())
    shown = shown if len(shown) <= 80 else shown[:79] + "…"
    raise LineError(
        f"that line is not valid UTF-8 text, so I did not act on it (the bad bytes show as \ufffd): {shown}\n"
        "Save your input as UTF-8 and send it again."
    )


def read_images(paths: list[Path], max_bytes: int) -> list[bytes]:
    """The files' bytes, or LineError naming the first one that cannot be read."""
    images = []
    for path in paths:
        if not path.exists():
            raise LineError(f"no such file: {path}")
        if not path.is_file():
            raise LineError(f"not a file: {path}")
        size = path.stat().st_size
        if size == 0:
            raise LineError(f"{path} is empty, not an image.")
        if size > max_bytes:
            raise LineError(f"{path} is too large ({size // 1_000_000} MB; the limit is {max_bytes // 1_000_000} MB).")
        try:
            images.append(path.read_bytes())
        except OSError as err:
            raise LineError(f"cannot read {path}: {err.strerror or 'permission denied'}") from None
    return images


@dataclass
class ConsoleSession:
    """One console chat: a requester, the client it talks to, and where images are written."""

    client: RapClient
    who: Requester
    out_dir: Path
    settings: ConsoleSettings = field(default_factory=ConsoleSettings)
    choice: HeldChoice = field(default_factory=HeldChoice)  # a /remember waiting for /choose
    answered: HeldAnswer = field(default_factory=HeldAnswer)  # the last photo answer, for /yes and /no
    # Where `rapbot web` serves the gallery (the console runs on the same machine, so its local URL
    # will do) and the secret it signs sessions with (the console's sign-in links use it too).
    web: WebSettings = field(default_factory=WebSettings)
    _written: int = field(default=0, init=False)  # files written, to keep their names unique

    async def handle_line(self, line: str) -> str:
        """The reply to one line; never raises for a bad line."""
        try:
            message = split_attachments(clean_line(line))
            command = parse(message.text)
            images = read_images(message.paths, self.settings.max_image_bytes)
            reply = await self._dispatch(command, images)
            if images and isinstance(command, Question):  # a photo posted: the chat's index, when on
                await self._index(images, message.paths)
            return reply
        except ParseError as err:
            return parse_error_reply(err, in_group=self.who.chat_kind == "group")
        except LineError as err:
            return str(err)
        except RapError as err:
            return replies.error(err)
        except Exception:  # a bug must not end the session; the trace goes to the log, not the chat
            logger.exception("unexpected error handling a console line")
            return replies.unexpected_error()

    async def _index(self, images: list[bytes], paths: list[Path]) -> None:
        """Photos posted on the console go into the memory's photo index when it is on, found again
        by their file paths (docs/index.md)."""

        async def given() -> list[bytes]:
            return images

        await index_posted(self.client, self.who, given, [str(path.resolve()) for path in paths])

    async def _dispatch(self, command: Command, images: list[bytes]) -> str:
        if images and not isinstance(command, Remember | AddPhoto | Question):
            return "this command takes no photo; send it without the @file."

        async def given() -> list[bytes]:
            return images

        context = Context(
            self.who,
            self.client,
            given,
            self.settings.concepts_page_size,
            self.choice,
            CONSOLE_SURFACE,
            answered=self.answered,
            gallery_url=self.web.public_url,
            gallery_sign_in=lambda: sign_in_link(self.web, self.who),
        )
        return self._render(await dispatch(command, context))

    def _render(self, reply: Reply) -> str:
        """The reply's text, then a line naming each photo or file written to the output folder."""
        lines = [reply.text] if reply.text else []
        for photo in reply.photos:
            lines.append(replies.image_written(self._write(photo.data, Path(photo.name).stem, "jpg")))
        if reply.file is not None:
            name = Path(reply.file.name)
            lines.append(f"file: {self._write(reply.file.data, f'{name.stem}-{self.who.user_id}', name.suffix[1:])}")
        return "\n".join(lines)

    def _write(self, data: bytes, stem: str, suffix: str) -> str:
        """Write bytes the bot sends back to a fresh file in the output folder; return its path."""
        self._written += 1
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^\w.-]+", "_", stem).strip("_") or "file"
        path = self.out_dir / f"{stamp}-{self._written:03d}-{safe}.{suffix}"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)


def make_requester(user: str, group: str | None, admin: bool) -> Requester:
    """`--group` acts in that group's shared memory; `--admin` makes the user its moderator."""
    if group is not None:
        return Requester(platform=PLATFORM, user_id=user, chat_kind="group", chat_id=group, moderator=admin)
    return Requester(platform=PLATFORM, user_id=user, moderator=admin)


def resolve_out_dir(settings: ConsoleSettings, override: Path | None = None) -> Path:
    chosen = override or settings.out_dir
    if chosen is not None:
        return chosen.expanduser()
    return Path(tempfile.mkdtemp(prefix="rapbot-console-"))


async def plain_lines(stream: TextIO) -> AsyncIterator[str]:
    """Lines of piped input. Read as bytes when the stream has them (sys.stdin), so that bytes
    which are not UTF-8 reach `clean_line` (as surrogates) instead of ending the session."""
    binary = getattr(stream, "buffer", None)
    if binary is None:
        for line in stream:
            yield line.rstrip("\r\n")
        return
    for raw in binary:
        yield raw.decode("utf-8", "surrogateescape").rstrip("\r\n")


async def prompt_lines(session_label: str, history_file: Path | None) -> AsyncIterator[str]:
    # prompt_toolkit only for a terminal: piped input and the tests never load it.
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    history = FileHistory(str(history_file.expanduser())) if history_file else InMemoryHistory()
    prompt: PromptSession[str] = PromptSession(history=history)
    while True:
        try:
            yield await prompt.prompt_async(f"{session_label}> ")
        except KeyboardInterrupt:
            continue  # Ctrl-C clears the line, as in a shell
        except EOFError:
            return


async def run_session(
    session: ConsoleSession,
    lines: AsyncIterator[str],
    write: Callable[[str], None],
) -> None:
    """Send every line to the session and write each reply, until the lines end or /quit."""
    async for line in lines:
        if not line.removeprefix(_BOM).strip():
            continue
        if line.removeprefix(_BOM).strip().lower() in QUIT_WORDS:
            break
        reply = await session.handle_line(line)
        if reply:
            write(reply)


async def main(
    client: RapClient,
    who: Requester,
    out_dir: Path,
    settings: ConsoleSettings,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """The console's main loop: a prompt with history on a TTY, else lines until EOF. Returns 0."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    session = ConsoleSession(client, who, out_dir, settings)

    def write(text: str) -> None:
        print(text, file=stdout, flush=True)

    interactive = stdin.isatty() and stdout.isatty()
    if interactive:
        where = f"group {who.chat_id}" if who.chat_kind == "group" else "your own memory"
        write(f"rapbot console as {who.user_id} ({where}). /help for commands, Ctrl-D to quit.")
        write(f"images are written to {out_dir}")
        label = who.user_id if who.chat_kind == "user" else f"{who.user_id}@{who.chat_id}"
        lines = prompt_lines(label, settings.history_file)
    else:
        lines = plain_lines(stdin)
    await run_session(session, lines, write)
    return 0


async def open_client() -> RapClient:
    """The worker's client for this configuration (in-process on the embedded Postgres by default).
    Raises StartupError (one line for the operator) when the settings or the services are wrong."""
    # Opening may start the embedded Postgres and load the networks: keep the event loop free.
    return await asyncio.to_thread(open_configured)


async def run_console(user: str, group: str | None, admin: bool, out: Path | None = None) -> int:
    """`rapbot console`: build the requester and client from settings, then run the main loop."""
    settings = ConsoleSettings()
    who = make_requester(user, group, admin)
    try:
        client = await open_client()
    except StartupError as err:
        print(f"rapbot console: {err}", file=sys.stderr)
        return 1
    try:
        return await main(client, who, resolve_out_dir(settings, out), settings)
    finally:
        await client.close()
