"""The photo index in the frontends (docs/index.md): `/index` and `/find` for the dispatcher, and
what every frontend calls for a photo posted in a chat (`index_posted`), whether or not it was
addressed to the bot. Whether a chat's index is on is remembered for a minute (`SWITCHES`), so a
chat with the index off costs one cheap store call a minute, never a photo upload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot import grammar
from worker.client import RapClient
from worker.errors import RapError
from worker.index_schemas import FindResult, FoundPhotoItem, IndexedPhotos, PhotoIndexStatus
from worker.schemas import Requester

log = logging.getLogger(__name__)
FIND_LIMIT = 10
_Key = tuple[str, str, str]


def chat_key(who: Requester) -> _Key:
    """The memory a requester's chat reads: the group's, or the user's own."""
    if who.chat_kind == "group":
        return who.platform, "group", str(who.chat_id)
    return who.platform, "user", who.user_id


@dataclass
class IndexSwitches:
    """Whether each chat's index is on, as last seen (for `ttl_s`), bounded."""

    ttl_s: float = 60.0
    limit: int = 100_000
    known: dict[_Key, tuple[float, bool]] = field(default_factory=dict)

    def get(self, key: _Key) -> bool | None:
        seen = self.known.get(key)
        if seen is None or time.monotonic() - seen[0] > self.ttl_s:
            return None
        return seen[1]

    def set(self, key: _Key, enabled: bool) -> None:
        if len(self.known) >= self.limit:
            self.known.clear()
        self.known[key] = (time.monotonic(), enabled)

    async def enabled(self, client: RapClient, who: Requester) -> bool:
        key = chat_key(who)
        known = self.get(key)
        if known is None:
            try:
                known = (await client.photo_index(who)).enabled
            except RapError:
                known = False  # not readable (or the store is down): nothing is indexed
            self.set(key, known)
        return known


SWITCHES = IndexSwitches()
_SENDING: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _one_at_a_time() -> asyncio.Semaphore:
    """One index_photo call in flight per frontend process (per event loop): the rest of a burst
    waits here, not in the worker's threads (in-process) or slots (Celery), where answers run."""
    loop = asyncio.get_running_loop()
    if loop not in _SENDING:
        _SENDING.clear()  # an event loop that ended (tests run one after another) holds nothing
        _SENDING[loop] = asyncio.Semaphore(1)
    return _SENDING[loop]


async def index_posted(
    client: RapClient,
    who: Requester,
    images: Callable[[], Awaitable[Sequence[bytes]]],
    locations: Sequence[str],
    request_id: str | None = None,
    posted_at: Sequence[float] | None = None,
) -> IndexedPhotos | None:
    """Index photos posted in the chat of `who` when its index is on (fetching them only then);
    `posted_at`: when each was posted (Unix seconds). Never raises: the chat was not talking to the
    bot, so nothing is said there either way."""
    try:
        if not locations or not await SWITCHES.enabled(client, who):
            return None
        async with _one_at_a_time():  # a burst never takes the threads or slots answers need (nor memory)
            data = list(await images())
            if not data:
                return None
            when = list(posted_at)[: len(data)] if posted_at is not None else None
            result = await client.index_photo(
                who, data, list(locations)[: len(data)], request_id=request_id, posted_at=when
            )
        if result.off:
            SWITCHES.set(chat_key(who), False)
        return result
    except Exception:  # background work: log it, never disturb the chat
        log.warning("a posted photo could not be indexed", exc_info=True)
        return None


def index_later(
    client: RapClient,
    who: Requester,
    images: Callable[[], Awaitable[Sequence[bytes]]],
    locations: Sequence[str],
    request_id: str | None = None,
    posted_at: Sequence[float] | None = None,
) -> asyncio.Task[IndexedPhotos | None]:
    """`index_posted` as a task of its own, so the frontend goes on at once; the task is kept until
    it ends (asyncio holds only weak references to tasks)."""
    task = asyncio.create_task(index_posted(client, who, images, locations, request_id, posted_at))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


_RUNNING: set[asyncio.Task[IndexedPhotos | None]] = set()


async def settle() -> None:
    """Wait for the indexing tasks started so far (tests, shutdown)."""
    while _RUNNING:
        await asyncio.gather(*list(_RUNNING), return_exceptions=True)


# ---------------------------------------------------------------- the commands


async def switch(client: RapClient, who: Requester, action: str) -> str:
    """`/index`, `/index on|off|delete`: the reply's text (RapError for a refusal)."""
    if action == "delete":
        deleted = await client.delete_photo_index(who)
        return f"Deleted {_photos(deleted)} from this chat's photo index."
    enabled = {"on": True, "off": False}.get(action)
    status = await client.photo_index(who, enabled=enabled)
    SWITCHES.set(chat_key(who), status.enabled)
    if action == "on":
        return (
            "photo index: on. From now on, photos posted in this chat are indexed (nothing from before): "
            f"/find bo, /find bo at the beach or /find red bicycle finds them. Kept {status.retention_days} days; "
            "/index off stops it."
        )
    if action == "off":
        text = "photo index: off: photos posted from now on are not indexed."
        if status.photos:
            text += f" It still holds {_photos(status.photos)}: /index delete removes them."
        return text
    return status_text(status)


def status_text(status: PhotoIndexStatus) -> str:
    if not status.enabled:
        text = "photo index: off. /index on (moderators, in a group) indexes the photos posted here from then on."
        if status.photos:
            text += f" It still holds {_photos(status.photos)} from before (/index delete removes them)."
        return text
    since = f" since {status.since:%Y-%m-%d %H:%M} UTC" if status.since is not None else ""
    thumbnails = "small thumbnails kept" if status.keep_thumbnails else "no thumbnails kept"
    return (
        f"photo index: on{since}, {_photos(status.photos)}, each kept {status.retention_days} days "
        f"({thumbnails}). /find searches it; /index off stops it."
    )


async def find(client: RapClient, who: Requester, query: str) -> str:
    return found_text(await client.find_photos(who, query, FIND_LIMIT))


def found_text(result: FindResult) -> str:
    what = f"<{result.concept}>" if result.concept else ""
    if result.text:
        what = f"{what} {result.text}".strip() if result.concept else f"“{result.text}”"
    if not result.indexed:
        return "This chat's photo index is off and empty: /index on (moderators, in a group) starts it."
    if not result.photos:
        return f"No indexed photo shows {what} yet."
    if result.concept and not result.text:
        head = f"{what} was seen in {_photos(result.total or len(result.photos))}; the newest first:"
    else:
        head = f"Photos like {what}, best first:"
    return "\n".join([head, *(_line(i, photo) for i, photo in enumerate(result.photos, 1))])


def _line(number: int, photo: FoundPhotoItem) -> str:
    seen = [f"<{name}>" for name in photo.recognised]
    if photo.uncertain:
        seen.append(" or ".join(f"<{name}>" for name in photo.uncertain) + " (look-alikes: not sure which)")
    where = f" — {', '.join(seen)}" if seen else ""
    return f"{number}. {photo.location} ({photo.posted_at:%Y-%m-%d %H:%M}){where}"


def _photos(count: int) -> str:
    return f"{count} photo" if count == 1 else f"{count} photos"


async def act(command: grammar.PhotoIndex | grammar.Find, client: RapClient, who: Requester) -> str:
    """The dispatcher's `/index` and `/find` (bot/dispatch.py)."""
    if isinstance(command, grammar.Find):
        return await find(client, who, command.query)
    if command.action == "keep" and command.value is not None:
        status = await client.photo_index(who, retention_days=command.value)
        return f"Indexed photos are now kept {status.retention_days} days. " + status_text(status)
    if command.action == "thumbnails" and command.value is not None:
        status = await client.photo_index(who, keep_thumbnails=bool(command.value))
        return status_text(status)
    return await switch(client, who, command.action)
