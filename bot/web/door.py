"""The gallery's one door into memory: its writes are the chats' commands (bot.grammar) run by the
chats' dispatcher (bot.dispatch) as the signed-in user in that memory, so the same context rules
and the store's one policy decide them, and their outcome code becomes the HTTP status. Pages that
read structured results ask the dispatcher's context rules first and the client (under the same
policy) for the data; what a page offers is asked of the policy (`permissions`)."""

from __future__ import annotations

from fastapi import HTTPException, Request

from bot.dispatch import Context, Reply, context_refusal, dispatch
from bot.grammar import Command, Find
from bot.web.access import OpenMemory, check_rate, state_of
from bot.web.pages import STATUS_OF_OUTCOME
from worker.index_schemas import FindResult, PhotoIndexStatus
from worker.schemas import Permissions


def _context(request: Request, memory: OpenMemory, images: list[bytes] | None = None) -> Context:
    state = state_of(request)

    async def photos() -> list[bytes]:
        return list(images or [])

    return Context(who=memory.who, client=state.client, images=photos, page_size=state.settings.page_size)


async def act(request: Request, memory: OpenMemory, command: Command, images: list[bytes] | None = None) -> Reply:
    """Run a write as the chats do; a refusal becomes an HTTPException with its outcome's status
    and the dispatcher's own words. Counted against the user's request limits first."""
    check_rate(request, memory)
    reply = await dispatch(command, _context(request, memory, images))
    if reply.outcome != "ok":
        raise HTTPException(STATUS_OF_OUTCOME[reply.outcome], reply.text)
    return reply


async def allowed_here(request: Request, memory: OpenMemory, command: Command) -> None:
    """The dispatcher's context rules for a page that reads (audit, settings): refused as in the chats."""
    refusal = await context_refusal(command, _context(request, memory))
    if refusal is not None:
        raise HTTPException(STATUS_OF_OUTCOME[refusal.outcome], refusal.text)


async def permissions(request: Request, memory: OpenMemory, name: str | None = None) -> Permissions:
    """What the policy allows the user here now: what the page may offer (the writes ask again)."""
    return await state_of(request).client.permissions(memory.who, name)


async def index_status(request: Request, memory: OpenMemory) -> PhotoIndexStatus:
    """Whether the memory's photo index is on (anyone who may read the memory may know)."""
    return await state_of(request).client.photo_index(memory.who)


async def find(request: Request, memory: OpenMemory, query: str, limit: int, *, counted: bool = True) -> FindResult:
    """The chats' `/find` as structured results: its context rules first, the user's request limits
    (a search embeds its text on the worker, like a request in the chat; `counted=False` for the
    concept page's own strip, a page read like the photos), then the client under the same policy."""
    command = Find(" ".join(query.split()))
    await allowed_here(request, memory, command)
    if counted:
        check_rate(request, memory)
    return await state_of(request).client.find_photos(memory.who, command.query, limit)
