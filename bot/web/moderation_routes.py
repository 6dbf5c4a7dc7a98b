"""What a group's moderators see besides: the memory's settings (lock, threshold, auto-caption),
its audit log and purging a member's contributions. Refused here to anyone else (404 for a group
they are not in, 403 for a member), and refused again by the store's policy."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.web.access import OpenMemory, check_csrf, open_memory, state_of
from bot.web.pages import render

router = APIRouter()
AUDIT_ROWS = 100
THUMBNAIL_NAMES = 100


async def moderated(request: Request, key: str) -> OpenMemory:
    memory = await open_memory(request, key)
    if not memory.is_group:
        raise HTTPException(404, "Your own memory has no moderators' page.")
    if not memory.moderator:
        raise HTTPException(403, "Only this group's moderators can do that.")
    return memory


@router.get("/m/{key}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, key: str) -> Response:
    memory = await moderated(request, key)
    current = await state_of(request).client.get_settings(memory.who)
    return render(request, "settings.html", memory=memory, group_settings=current)


@router.post("/m/{key}/settings", dependencies=[Depends(check_csrf)])
async def save_settings(
    request: Request,
    key: str,
    locked: bool = Form(False),
    auto_caption: bool = Form(False),
    similarity_threshold: float | None = Form(None),
) -> Response:
    memory = await moderated(request, key)
    await state_of(request).client.update_settings(
        memory.who, locked=locked, auto_caption=auto_caption, similarity_threshold=similarity_threshold
    )
    request.session["flash"] = "Saved the settings." + (" The memory is locked." if locked else "")
    return RedirectResponse(f"/m/{memory.key}/settings", status_code=303)


@router.get("/m/{key}/audit", response_class=HTMLResponse)
async def audit(request: Request, key: str) -> Response:
    memory = await moderated(request, key)
    client = state_of(request).client
    entries = await client.audit(memory.who, limit=AUDIT_ROWS)
    present = {c.name for c in (await client.list_concepts(memory.who, 0, THUMBNAIL_NAMES)).items}
    return render(request, "audit.html", memory=memory, entries=entries, present=present)


@router.post("/m/{key}/purge", dependencies=[Depends(check_csrf)])
async def purge(request: Request, key: str, member_id: str = Form(...)) -> Response:
    memory = await moderated(request, key)
    removed = await state_of(request).client.purge(memory.who, member_id.strip())
    request.session["flash"] = f"Removed {removed} concept(s) added by {member_id.strip()}."
    return RedirectResponse(f"/m/{memory.key}/audit", status_code=303)
