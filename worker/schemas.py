"""Requests and results that cross the client boundary. Pydantic models so the Celery path can
send them as JSON; image bytes travel base64-encoded here and by reference (a Redis key) in Celery."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in the photo's pixels

# Models that carry image bytes write them as base64 in JSON (the Celery path), not as UTF-8 text.
BYTES_AS_BASE64 = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")


class Requester(BaseModel):
    """Who asks, and from where. A DM (chat_kind "user") reads and writes the user's own memory;
    a group chat reads and writes the group's memory. `moderator` is decided by the frontend."""

    platform: str  # "console", "telegram", "discord"
    user_id: str
    chat_kind: Literal["user", "group"] = "user"
    chat_id: str | None = None  # the group's id when chat_kind == "group"
    moderator: bool = False


class Candidate(BaseModel):
    index: int  # 1-based number drawn on the annotated image
    box: Box
    label: str
    score: float


class ConceptSummary(BaseModel):
    name: str
    description: str
    category: str
    created_by: str
    view_count: int
    created_at: datetime
    updated_at: datetime


class RememberResult(BaseModel):
    model_config = BYTES_AS_BASE64

    status: Literal["stored", "candidates", "cancelled"]
    concept: ConceptSummary | None = None  # when stored
    pending_id: str | None = None  # when candidates: pass to choose()
    candidates: list[Candidate] = Field(default_factory=list)
    annotated_image: bytes | None = None  # JPEG with numbered boxes, when candidates
    views_added: int = 0


class Recognised(BaseModel):
    name: str
    similarity: float | None  # None when the concept was named in the text, not seen
    box: Box | None


class AnswerResult(BaseModel):
    model_config = BYTES_AS_BASE64

    text: str
    recognised: list[Recognised] = Field(default_factory=list)
    annotated_image: bytes | None = None  # JPEG with recognised boxes labelled by name
    dropped: list[str] = Field(default_factory=list)  # concepts left out to fit the context


class ConceptPage(BaseModel):
    items: list[ConceptSummary]
    total: int
    offset: int
    limit: int


class ConceptDetail(BaseModel):
    model_config = BYTES_AS_BASE64

    concept: ConceptSummary
    images: list[bytes]  # the stored crops, JPEG


class GroupSettings(BaseModel):
    locked: bool
    similarity_threshold: float
    auto_caption: bool


class AuditItem(BaseModel):
    at: datetime | None
    actor: str | None
    action: str
    concept: str | None  # the concept's name at the time, when known
    details: dict[str, object] = Field(default_factory=dict)


class ErasureSummary(BaseModel):
    concepts_deleted: int
    views_deleted: int
    scopes_deleted: int
