"""Plain values of the photo index (memory/photo_index.py), in and out of the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from memory.types import Box

DEFAULT_RETENTION_DAYS = 180
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class IndexSettings:
    enabled: bool = False
    since: datetime | None = None  # when it was last turned on: nothing posted before is indexed
    retention_days: int = DEFAULT_RETENTION_DAYS
    keep_thumbnails: bool = False


@dataclass(frozen=True)
class IndexStatus:
    settings: IndexSettings
    photos: int  # photos the index holds now


@dataclass(frozen=True)
class IndexedVector:
    """One embedding of an indexed photo: "whole" (the photo), "crop" (a detected box), "face"."""

    kind: str
    encoder: str
    embedding: npt.NDArray[np.float32]  # 1-d, L2-normalised
    box: Box | None = None


@dataclass(frozen=True)
class Recognition:
    concept_id: int
    similarity: float
    box: Box | None = None
    uncertain: bool = False  # another concept of the memory scored within the look-alike margin


@dataclass(frozen=True)
class NewIndexedPhoto:
    location: str  # where to find it: a message link, a jump URL, a file path
    width: int
    height: int
    vectors: list[IndexedVector]
    recognitions: list[Recognition] = field(default_factory=list)
    thumbnail_jpeg: bytes | None = None  # kept only when the memory's index keeps thumbnails
    request_id: str | None = None  # the same photo delivered twice is indexed once
    posted_at: datetime | None = None  # when it was posted (None: now); before the index was on: refused


@dataclass(frozen=True)
class SeenConcept:
    name: str
    similarity: float
    uncertain: bool = False


@dataclass(frozen=True)
class FoundPhoto:
    id: int
    location: str
    posted_by: str
    posted_at: datetime
    concepts: list[SeenConcept]
    score: float | None = None  # CLIP similarity to the text of the query, when it was ranked by one
    thumbnail_jpeg: bytes | None = None
