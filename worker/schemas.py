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
    view_count: int  # its own photos
    created_at: datetime
    updated_at: datetime
    negative_count: int = 0  # photos the user said are not it (learned from "no" feedback)
    # Its face views (no photos), counted only where the request was about a face: a yes / no on a
    # concept recognised by face (None otherwise), so the reply can say a face was learned.
    face_count: int | None = None


class RememberResult(BaseModel):
    model_config = BYTES_AS_BASE64

    status: Literal["stored", "candidates", "cancelled"]
    concept: ConceptSummary | None = None  # when stored
    pending_id: str | None = None  # when candidates: pass to choose()
    candidates: list[Candidate] = Field(default_factory=list)
    annotated_image: bytes | None = None  # JPEG with numbered boxes, when candidates
    views_added: int = 0
    # Other concepts of the memory its photo would be recognised as (look-alikes: docs/index.md).
    lookalikes: list[str] = Field(default_factory=list)


class Recognised(BaseModel):
    name: str
    similarity: float | None  # None when the concept was named in the text, not seen
    box: Box | None
    # Seen in a photo: pass to feedback() with yes / no while it lasts (RAPBOT_FEEDBACK_TTL_S).
    feedback_id: str | None = None


class Grounded(BaseModel):
    """A box the answer itself gives (a grounding answer), in the photo's pixels."""

    name: str | None  # the concept it places; None when the answer leaves that open
    box: Box


class AnswerResult(BaseModel):
    model_config = BYTES_AS_BASE64

    text: str
    recognised: list[Recognised] = Field(default_factory=list)
    annotated_image: bytes | None = None  # JPEG with recognised and grounded boxes labelled by name
    yes_no: bool | None = None  # the answer to a yes/no question ("Is <bo> in this image?"), when it says
    grounded: list[Grounded] = Field(default_factory=list)  # boxes the answer gives, drawn on the photo
    dropped: list[str] = Field(default_factory=list)  # concepts left out to fit the context
    left_out: list[str] = Field(default_factory=list)  # seen, but beyond the generator's concepts per photo
    # Photos in these memories were embedded by an earlier encoder and are not re-embedded yet
    # (`rapbot memory reembed`): recognition misses them until that is done.
    memory_updating: bool = False
    # Concepts that scored within the look-alike margin of each other on one crop: named together as
    # uncertain ("<bo> or <mochi>?") instead of picking one (docs/index.md, "Look-alikes").
    lookalikes: list[list[str]] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)  # names the question gives as <name> that no concept has


class ConceptPage(BaseModel):
    items: list[ConceptSummary]
    total: int
    offset: int
    limit: int


class ConceptDetail(BaseModel):
    model_config = BYTES_AS_BASE64

    concept: ConceptSummary
    images: list[bytes]  # the stored crops, JPEG
    negatives: list[bytes] = []  # crops said not to be it (/no), JPEG


class GroupSettings(BaseModel):
    locked: bool
    similarity_threshold: float
    auto_caption: bool


class Permissions(BaseModel):
    """What the policy allows the requester in their memory now (memory.types.Permissions)."""

    may_write: bool
    may_change: bool
    may_moderate: bool


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
