"""What every user sees: their memories, a memory's grid, a concept's page with its photos, and
the writes on a concept (edit, rename, category, add a photo, forget); their export. Each write
goes to the worker's client as the signed-in user in that memory, and the store's policy decides."""

from __future__ import annotations

import asyncio
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

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
from bot.web.pages import render
from bot.web.thumbnails import full_size
from worker.schemas import ConceptSummary, GroupSettings

router = APIRouter()
writes = [Depends(check_csrf)]


def back_to(memory: OpenMemory, name: str | None = None) -> RedirectResponse:
    target = f"/m/{memory.key}"
    if name is not None:
        target += f"/concept?name={quote(name)}"
    return RedirectResponse(target, status_code=303)


def may_change(memory: OpenMemory, concept: ConceptSummary, settings: GroupSettings | None) -> bool:
    """What the store allows (shown only where it will be allowed): one's own memory; in a group,
    moderators, or the member who added it while the memory is not locked."""
    if not memory.is_group or memory.moderator:
        return True
    return settings is not None and not settings.locked and concept.created_by == memory.who.user_id


async def group_settings(request: Request, memory: OpenMemory) -> GroupSettings | None:
    return await state_of(request).client.get_settings(memory.who) if memory.is_group else None


@router.get("/", response_class=HTMLResponse)
async def memories(request: Request) -> Response:
    user = current_user(request)
    groups = await user_groups(request, user)
    listed = [(PRIVATE_KEY, "My memory", False)] + [(group_key(g), g.title, g.moderator) for g in groups]
    return render(request, "memories.html", memories=listed)


@router.get("/m/{key}", response_class=HTMLResponse)
async def grid(request: Request, key: str, page: int = 1) -> Response:
    memory = await open_memory(request, key)
    state = state_of(request)
    size = state.settings.page_size
    page = max(1, page)
    found = await state.client.list_concepts(memory.who, offset=(page - 1) * size, limit=size)
    settings = await group_settings(request, memory)
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
    )


@router.get("/m/{key}/concept", response_class=HTMLResponse)
async def concept(request: Request, key: str, name: str) -> Response:
    memory = await open_memory(request, key)
    detail = await state_of(request).client.show(memory.who, name)
    settings = await group_settings(request, memory)
    return render(
        request,
        "concept.html",
        memory=memory,
        concept=detail.concept,
        views=range(len(detail.images)),
        negatives=range(len(detail.negatives)),
        can_change=may_change(memory, detail.concept, settings),
        group_settings=settings,
    )


@router.get("/m/{key}/photo")
async def photo(
    request: Request,
    key: str,
    name: str,
    view: int = 0,
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
async def edit(request: Request, key: str, name: str = Form(...), description: str = Form("")) -> Response:
    memory = await open_memory(request, key)
    await state_of(request).client.edit(memory.who, name, description)
    request.session["flash"] = f"Saved the description of {name}."
    return back_to(memory, name)


@router.post("/m/{key}/rename", dependencies=writes)
async def rename(request: Request, key: str, name: str = Form(...), new_name: str = Form(...)) -> Response:
    memory = await open_memory(request, key)
    renamed = await state_of(request).client.rename(memory.who, name, new_name)
    request.session["flash"] = f"Renamed {name} to {renamed.name}."
    return back_to(memory, renamed.name)


@router.post("/m/{key}/category", dependencies=writes)
async def category(request: Request, key: str, name: str = Form(...), category: str = Form(...)) -> Response:
    memory = await open_memory(request, key)
    await state_of(request).client.recategorise(memory.who, name, category)
    request.session["flash"] = f"{name} is now a {category}."
    return back_to(memory, name)


@router.post("/m/{key}/add-photo", dependencies=writes)
async def add_photo(request: Request, key: str, name: str = Form(...), file: UploadFile | None = None) -> Response:
    memory = await open_memory(request, key)
    state = state_of(request)
    limit = state.settings.max_upload_bytes
    data = await file.read(limit + 1) if file is not None else b""
    if not data:
        raise HTTPException(400, "Choose a photo to add.")
    if len(data) > limit:
        raise HTTPException(413, f"That photo is too large (the limit is {limit // (1024 * 1024)} MB).")
    updated = await state.client.add_view(memory.who, name, data)
    request.session["flash"] = f"Added a photo to {name} ({updated.view_count} now)."
    return back_to(memory, name)


@router.post("/m/{key}/forget", dependencies=writes)
async def forget(request: Request, key: str, name: str = Form(...)) -> Response:
    memory = await open_memory(request, key)
    await state_of(request).client.forget(memory.who, name)
    request.session["flash"] = f"Forgot {name}: its photos are deleted."
    return back_to(memory)


@router.get("/export")
async def export(request: Request) -> Response:
    """Everything the signed-in user stored on their platform, as a zip: theirs alone."""
    user = current_user(request)
    memory = await open_memory(request, PRIVATE_KEY)
    data = await state_of(request).client.export(memory.who)
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="rapbot-{user.platform}-export.zip"',
            "Cache-Control": "private, no-store",
        },
    )
