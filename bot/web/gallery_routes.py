"""What every user sees: their memories, a memory's grid, a concept's page with its photos, and
the writes on a concept (edit, rename, category, add a photo, forget); their export. Each write is
the chats' command run by the chats' dispatcher as the signed-in user in that memory (bot/web/door.py),
so the store's policy decides; the forms a page shows are the ones the policy allows now."""

from __future__ import annotations

import asyncio
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.grammar import AddPhoto, Edit, Export, Forget, Recategorise, Rename
from bot.web.access import (
    PRIVATE_KEY,
    OpenMemory,
    check_csrf,
    current_user,
    group_key,
    open_memory,
    state_of,
    user_groups,
)
from bot.web.body_limits import too_large
from bot.web.door import act, index_status, permissions
from bot.web.index_routes import seen_in_chat
from bot.web.pages import render
from bot.web.params import MAX_UPLOAD_PHOTOS, MemoryKey, NameForm, NameQuery, PageNumber, TextForm, ViewIndex
from bot.web.thumbnails import full_size
from worker.schemas import GroupSettings

router = APIRouter()
writes = [Depends(check_csrf)]


def back_to(memory: OpenMemory, name: str | None = None) -> RedirectResponse:
    target = f"/m/{memory.key}"
    if name is not None:
        target += f"/concept?name={quote(name)}"
    return RedirectResponse(target, status_code=303)


async def group_settings(request: Request, memory: OpenMemory) -> GroupSettings | None:
    return await state_of(request).client.get_settings(memory.who) if memory.is_group else None


@router.get("/", response_class=HTMLResponse)
async def memories(request: Request) -> Response:
    user = await current_user(request)
    groups = await user_groups(request, user)
    listed = [(PRIVATE_KEY, "My memory", False)] + [(group_key(g), g.title, g.moderator) for g in groups]
    return render(request, "memories.html", memories=listed)


@router.get("/m/{key}", response_class=HTMLResponse)
async def grid(request: Request, key: MemoryKey, page: PageNumber = 1) -> Response:
    memory = await open_memory(request, key)
    state = state_of(request)
    size = state.settings.page_size
    found = await state.client.list_concepts(memory.who, offset=(page - 1) * size, limit=size)
    settings = await group_settings(request, memory)
    allowed = await permissions(request, memory)
    index_on = (await index_status(request, memory)).enabled
    pages = max(1, -(-found.total // size))
    return render(
        request,
        "grid.html",
        memory=memory,
        concepts=found.items,
        page=page,
        pages=pages,
        total=found.total,
        group_settings=settings,
        allowed=allowed,
        index_on=index_on,
    )


@router.get("/m/{key}/concept", response_class=HTMLResponse)
async def concept(request: Request, key: MemoryKey, name: NameQuery) -> Response:
    memory = await open_memory(request, key)
    detail = await state_of(request).client.show(memory.who, name)
    settings = await group_settings(request, memory)
    allowed = await permissions(request, memory, detail.concept.name)
    seen = await seen_in_chat(request, memory, detail.concept.name)
    return render(
        request,
        "concept.html",
        memory=memory,
        concept=detail.concept,
        views=range(len(detail.images)),
        negatives=range(len(detail.negatives)),
        can_change=allowed.may_change,
        group_settings=settings,
        seen=seen,
        max_upload_photos=MAX_UPLOAD_PHOTOS,
        max_upload_mb=max(1, state_of(request).settings.max_upload_bytes // (1024 * 1024)),
    )


@router.get("/m/{key}/photo")
async def photo(
    request: Request,
    key: MemoryKey,
    name: NameQuery,
    view: ViewIndex = 0,
    size: Literal["thumb", "full"] = "thumb",
    kind: Literal["own", "negative"] = "own",
) -> Response:
    """A view's photo (or, `kind=negative`, a crop said not to be it), checked on every request: the
    memory must be the user's and the concept in it."""
    memory = await open_memory(request, key)
    state = state_of(request)
    detail = await state.client.show(memory.who, name)
    photos = detail.images if kind == "own" else detail.negatives
    if not 0 <= view < len(photos):
        raise HTTPException(404, "There is no such photo.")
    original = photos[view]
    convert = state.thumbnails.thumbnail if size == "thumb" else full_size
    body = await asyncio.to_thread(convert, original)
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})


@router.post("/m/{key}/edit", dependencies=writes)
async def edit(request: Request, key: MemoryKey, name: NameForm, description: TextForm = "") -> Response:
    memory = await open_memory(request, key)
    request.session["flash"] = (await act(request, memory, Edit(name, description))).text
    return back_to(memory, name)


@router.post("/m/{key}/rename", dependencies=writes)
async def rename(request: Request, key: MemoryKey, name: NameForm, new_name: NameForm) -> Response:
    memory = await open_memory(request, key)
    request.session["flash"] = (await act(request, memory, Rename(name, new_name))).text
    return back_to(memory, new_name.strip())  # found by its name key, as the store cleaned it


@router.post("/m/{key}/category", dependencies=writes)
async def category(request: Request, key: MemoryKey, name: NameForm, category: NameForm) -> Response:
    memory = await open_memory(request, key)
    request.session["flash"] = (await act(request, memory, Recategorise(name, category))).text
    return back_to(memory, name)


@router.post("/m/{key}/add-photo", dependencies=writes)
async def add_photo(request: Request, key: MemoryKey, name: NameForm, file: list[UploadFile] | None = None) -> Response:
    """One photo or several (`file` repeated, a `multiple` file input), added as the chats' /addphoto
    with an album (bot/photos.py): every photo is tried and the message says photo by photo what was
    added and why not; a refusal about the concept or the service stops the rest and says which were
    not tried. One photo's refusal is the page's status, as before. The body was bounded before it
    was parsed (bot/web/body_limits.py): all its photos together, per request, and its read time."""
    memory = await open_memory(request, key)
    limit = state_of(request).settings.max_upload_bytes
    if len(file or []) > MAX_UPLOAD_PHOTOS:
        raise HTTPException(422, f"Add at most {MAX_UPLOAD_PHOTOS} photos at once.")
    photos = [data for data in [await part.read(limit + 1) for part in file or []] if data]  # empty: no file chosen
    if not photos:
        raise HTTPException(422, "Choose a photo to add.")
    if sum(len(data) for data in photos) > limit:
        raise HTTPException(413, too_large(limit))
    request.session["flash"] = (await act(request, memory, AddPhoto(name), photos)).text
    return back_to(memory, name)


@router.post("/m/{key}/forget", dependencies=writes)
async def forget(request: Request, key: MemoryKey, name: NameForm) -> Response:
    memory = await open_memory(request, key)
    request.session["flash"] = (await act(request, memory, Forget(name))).text
    return back_to(memory)


@router.get("/export")
async def export(request: Request) -> Response:
    """Everything the signed-in user stored on their platform, as a zip: theirs alone."""
    user = await current_user(request)
    memory = await open_memory(request, PRIVATE_KEY)
    reply = await act(request, memory, Export())
    if reply.file is None:  # pragma: no cover - the dispatcher always attaches the archive
        raise HTTPException(503, "The export could not be made. Please try again.")
    return Response(
        reply.file.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="rapbot-{user.platform}-export.zip"',
            "Cache-Control": "private, no-store",
        },
    )
