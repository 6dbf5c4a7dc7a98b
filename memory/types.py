"""Plain values the store returns and takes. No ORM objects ever leave memory/."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in source-image pixels


class ScopeKind(str, enum.Enum):  # noqa: UP042  (str mix-in kept: part of the contract)
    USER = "user"
    GROUP = "group"


@dataclass(frozen=True)
class Actor:
    """Who performs a write. `user_id` is the platform's user id (a string); `moderator` is decided
    by the frontend (chat admin, Manage Server, console --admin) and only matters in group scopes."""

    user_id: str
    moderator: bool = False


@dataclass(frozen=True)
class ScopeSettings:
    locked: bool = False
    similarity_threshold: float | None = None  # None: the store's default threshold
    auto_caption: bool = False


@dataclass(frozen=True)
class ScopeInfo:
    id: int
    platform: str
    kind: ScopeKind
    external_id: str
    settings: ScopeSettings


# Face descriptors (model/faces.py, worker/domain/faces.py) are views too, under encoder ids starting with
# this. They are not photos the user sent: photo counts, /show and the photo quota leave them out.
FACE_ENCODER_PREFIX = "face:"


def is_face_encoder(encoder: str) -> bool:
    return encoder.startswith(FACE_ENCODER_PREFIX)


@dataclass(frozen=True)
class NewView:
    """One reference image of a concept, ready to store."""

    image_jpeg: bytes
    embedding: npt.NDArray[np.float32]  # 1-d, L2-normalised
    encoder: str  # e.g. "open_clip:ViT-L-14-336/openai"
    box: Box | None = None


@dataclass(frozen=True)
class ViewInfo:
    id: int
    concept_id: int
    encoder: str
    box: Box | None
    image_jpeg: bytes
    created_at: datetime
    negative: bool = False  # a crop the user said is not this concept


@dataclass(frozen=True)
class ConceptInfo:
    id: int
    scope_id: int
    name: str
    description: str
    category: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    view_count: int  # its own photos (positive views)
    shared_from: int | None = None  # concept id it was copied from by share()
    negative_count: int = 0  # crops the user said are not it (negative views)


@dataclass(frozen=True)
class ConceptPage:
    items: list[ConceptInfo]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class SearchHit:
    """One concept found for a search: its best similarity over its views and query vectors."""

    concept: ConceptInfo
    similarity: float  # cosine similarity, 1.0 = identical (to the concept's own views)
    query_index: int  # which row of the query matrix matched best
    view_id: int
    # The best similarity of that query row to the concept's negative views; None when it has none.
    negative_similarity: float | None = None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    scope_id: int | None
    actor: str | None  # None once the actor was erased
    action: str  # "add", "add_view", "edit", "rename", "recategorise", "forget", "share", ...
    concept_id: int | None
    details: dict[str, object] = field(default_factory=dict)
    at: datetime | None = None


@dataclass(frozen=True)
class DeadLetterInfo:
    """A request set aside after it stopped its worker on every delivery (never its photo or text)."""

    request_id: str
    method: str
    deliveries: int
    cause: str
    at: datetime


@dataclass(frozen=True)
class ErasureReport:
    scopes_deleted: int
    concepts_deleted: int
    views_deleted: int


@dataclass(frozen=True)
class Permissions:
    """What memory.policy allows an actor in a memory now (what a page may offer): add to it,
    change the concept asked about (or, with none named, concepts they added), moderate it."""

    may_write: bool
    may_change: bool
    may_moderate: bool
