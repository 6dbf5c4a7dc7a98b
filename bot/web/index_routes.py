"""The photo index in the gallery (docs/index.md): a search box (the chats' `/find`) and the "seen in
the chat" strip of a concept's page, both through the door (bot/web/door.py): the dispatcher's
context rules, the user's request limits, then the client under the memory's one policy, so a page
shows exactly what `/find` would say in that chat. Only where the memory's index is on; elsewhere a
line says how to turn it on. Results are links to where each photo was posted, never the photos:
the index keeps no photo, and its optional thumbnails have no route of their own yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.web.access import OpenMemory, open_memory
from bot.web.door import find, index_status
from bot.web.pages import render
from bot.web.params import MemoryKey, SearchQuery
from worker.errors import RapError
from worker.index_schemas import FindResult, FoundPhotoItem

router = APIRouter()

FIND_LIMIT = 20  # results on the search page
STRIP_LIMIT = 8  # the newest photos of a concept on its page
MAX_ANGLE_NAME = 64  # `/find <name>` names a concept exactly up to this length (worker/domain/indexing.py)


@dataclass(frozen=True)
class FoundRow:
    """One found photo as a page shows it: a link where the location is a web address (a Telegram
    message link, a Discord jump URL), else the location as text (a console file path, a chat and
    message id)."""

    location: str
    href: str | None
    posted_at: datetime
    recognised: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)


def row_of(photo: FoundPhotoItem) -> FoundRow:
    href = photo.location if photo.location.startswith(("https://", "http://")) else None
    return FoundRow(photo.location, href, photo.posted_at, list(photo.recognised), list(photo.uncertain))


@dataclass(frozen=True)
class SeenStrip:
    """The concept page's "seen in the chat": `enabled` False shows how to turn the index on;
    `failed` says the photos cannot be listed now (the page itself still shows)."""

    enabled: bool
    rows: list[FoundRow] = field(default_factory=list)
    total: int = 0
    failed: bool = False


async def seen_in_chat(request: Request, memory: OpenMemory, name: str) -> SeenStrip:
    """The newest indexed photos where `name` was recognised: `/find <name>` in this memory."""
    if not (await index_status(request, memory)).enabled:
        return SeenStrip(enabled=False)
    if len(name) > MAX_ANGLE_NAME or "<" in name or ">" in name:  # not nameable exactly: no strip
        return SeenStrip(enabled=True)
    try:
        result = await find(request, memory, f"<{name}>", STRIP_LIMIT, counted=False)
    except RapError:  # the worker cannot search now: the concept's own page still shows
        return SeenStrip(enabled=True, failed=True)
    if result.concept is None or result.concept.casefold() != name.casefold() or result.text:
        return SeenStrip(enabled=True)
    rows = [row_of(photo) for photo in result.photos]
    return SeenStrip(enabled=True, rows=rows, total=result.total or len(rows))


@router.get("/m/{key}/find", response_class=HTMLResponse)
async def search(request: Request, key: MemoryKey, q: SearchQuery) -> Response:
    """`/find bo`, `/find bo at the beach`, `/find red bicycle` in this memory's photo index."""
    memory = await open_memory(request, key)
    status = await index_status(request, memory)
    result: FindResult | None = None
    if status.enabled:
        result = await find(request, memory, q, FIND_LIMIT)
    rows = [row_of(photo) for photo in result.photos] if result is not None else []
    return render(
        request,
        "find.html",
        memory=memory,
        query=q,
        index_on=status.enabled and result is not None and result.indexed,
        result=result,
        rows=rows,
    )
