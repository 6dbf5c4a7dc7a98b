"""Helpers shared by the worker tests (not a test module: no test_ prefix)."""

from __future__ import annotations

from worker.client import RapClient
from worker.schemas import Requester


async def remember_whole(
    client: RapClient, who: Requester, name: str, photo: bytes, description: str | None = None
) -> None:
    """Remember a photo as a whole (the tiny detector always finds several comparable boxes)."""
    text = f"{name}, who loves sardines" if description is None else description
    result = await client.remember(who, name, text, [photo])
    if result.status == "candidates":
        assert result.pending_id
        result = await client.choose(who, result.pending_id, "whole")
    assert result.status == "stored"
