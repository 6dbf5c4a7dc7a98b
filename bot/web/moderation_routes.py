"""A group memory's settings (lock, threshold, auto-caption: every member reads them, moderators
change them), its audit log and purging a member's contributions. The chats' commands decide, run
by the chats' dispatcher (bot/web/door.py): a group they are not in is 404, a member asking for a
moderator's action 403 (the store's policy), a private memory 422 (the group-only context rule)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.grammar import Audit, AutoCaption, Command, Lock, Purge, Threshold, Unlock
from bot.web.access import check_csrf, open_memory, state_of
from bot.web.door import act, allowed_here, permissions
from bot.web.pages import render
from bot.web.params import MemoryKey, NameForm

router = APIRouter()
AUDIT_ROWS = 100
THUMBNAIL_NAMES = 100


@router.get("/m/{key}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, key: MemoryKey) -> Response:
    memory = await open_memory(request, key)
    await allowed_here(request, memory, Threshold(None))
    current = await state_of(request).client.get_settings(memory.who)
    allowed = await permissions(request, memory)
    return render(request, "settings.html", memory=memory, group_settings=current, allowed=allowed)


@router.post("/m/{key}/settings", dependencies=[Depends(check_csrf)])
async def save_settings(
    request: Request,
    key: MemoryKey,
    locked: bool = Form(False),
    auto_caption: bool = Form(False),
    similarity_threshold: float | None = Form(None, ge=0.0, le=1.0),
) -> Response:
    """The form's changes, each as the chats' command (/lock or /unlock, /autocaption, /threshold)."""
    memory = await open_memory(request, key)
    await allowed_here(request, memory, Lock())
    current = await state_of(request).client.get_settings(memory.who)
    changes: list[Command] = []
    if locked != current.locked:
        changes.append(Lock() if locked else Unlock())
    if auto_caption != current.auto_caption:
        changes.append(AutoCaption(auto_caption))
    if similarity_threshold is not None and abs(similarity_threshold - current.similarity_threshold) > 1e-9:
        changes.append(Threshold(similarity_threshold))
    for change in changes:
        await act(request, memory, change)
    request.session["flash"] = "Saved the settings." if changes else "Nothing to change."
    return RedirectResponse(f"/m/{memory.key}/settings", status_code=303)


@router.post("/m/{key}/lock", dependencies=[Depends(check_csrf)])
async def lock(request: Request, key: MemoryKey) -> Response:
    """The chats' /lock, as a button."""
    return await _one_setting(request, key, Lock())


@router.post("/m/{key}/unlock", dependencies=[Depends(check_csrf)])
async def unlock(request: Request, key: MemoryKey) -> Response:
    return await _one_setting(request, key, Unlock())


@router.post("/m/{key}/threshold", dependencies=[Depends(check_csrf)])
async def threshold(request: Request, key: MemoryKey, value: float = Form(..., ge=0.0, le=1.0)) -> Response:
    return await _one_setting(request, key, Threshold(value))


@router.post("/m/{key}/autocaption", dependencies=[Depends(check_csrf)])
async def autocaption(request: Request, key: MemoryKey, enabled: bool = Form(...)) -> Response:
    return await _one_setting(request, key, AutoCaption(enabled))


async def _one_setting(request: Request, key: str, command: Command) -> Response:
    memory = await open_memory(request, key)
    request.session["flash"] = (await act(request, memory, command)).text
    return RedirectResponse(f"/m/{memory.key}/settings", status_code=303)


@router.get("/m/{key}/audit", response_class=HTMLResponse)
async def audit(request: Request, key: MemoryKey) -> Response:
    memory = await open_memory(request, key)
    await allowed_here(request, memory, Audit(AUDIT_ROWS))
    client = state_of(request).client
    entries = await client.audit(memory.who, limit=AUDIT_ROWS)
    present = {c.name for c in (await client.list_concepts(memory.who, 0, THUMBNAIL_NAMES)).items}
    return render(request, "audit.html", memory=memory, entries=entries, present=present)


@router.post("/m/{key}/purge", dependencies=[Depends(check_csrf)])
async def purge(request: Request, key: MemoryKey, member_id: NameForm) -> Response:
    memory = await open_memory(request, key)
    request.session["flash"] = (await act(request, memory, Purge(member_id.strip()))).text
    return RedirectResponse(f"/m/{memory.key}/audit", status_code=303)
