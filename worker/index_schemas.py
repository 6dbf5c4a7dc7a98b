"""Results of the photo index operations (docs/index.md) that cross the client boundary."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from worker.schemas import BYTES_AS_BASE64


class PhotoIndexStatus(BaseModel):
    enabled: bool
    since: datetime | None = None  # when it was last turned on
    retention_days: int
    keep_thumbnails: bool
    photos: int  # photos it holds now


class IndexedPhotos(BaseModel):
    """What index_photo did with a batch of posted photos."""

    off: bool = False  # the memory's index is off: nothing was kept
    indexed: int = 0
    skipped: int = 0  # photos that could not be read
    recognised: list[str] = Field(default_factory=list)
    uncertain: list[str] = Field(default_factory=list)  # look-alikes within the margin


class FoundPhotoItem(BaseModel):
    model_config = BYTES_AS_BASE64

    location: str  # a message link, a jump URL or a file path
    posted_by: str
    posted_at: datetime
    recognised: list[str] = Field(default_factory=list)
    uncertain: list[str] = Field(default_factory=list)  # named as "bo or mochi?"
    score: float | None = None
    thumbnail: bytes | None = None


class FindResult(BaseModel):
    concept: str | None = None  # the concept the query named
    text: str | None = None  # the rest of the query, ranked by CLIP text similarity
    total: int | None = None  # photos the concept was recognised in
    indexed: bool = True  # False: this memory's index is off and holds nothing
    photos: list[FoundPhotoItem] = Field(default_factory=list)
