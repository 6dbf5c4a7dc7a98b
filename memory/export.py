"""A user's export: a zip of concepts.json plus images/<view id>.<jpg|png>."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime

from memory import validation as v
from memory.index_types import FoundPhoto
from memory.types import ConceptInfo, ScopeInfo, ViewInfo


def export_zip(
    platform: str, user_id: str, concepts: Sequence[tuple[ConceptInfo, ScopeInfo]], views: Sequence[ViewInfo]
) -> bytes:
    by_concept: dict[int, list[ViewInfo]] = {}
    for view in views:
        by_concept.setdefault(view.concept_id, []).append(view)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = []
        for concept, scope in concepts:
            photos = []
            for view in by_concept.get(concept.id, []):
                path = f"images/{view.id}.{v.image_kind(view.image_jpeg)}"
                archive.writestr(path, view.image_jpeg)
                photos.append(
                    {
                        "id": view.id,
                        "image": path,
                        "encoder": view.encoder,
                        "box": list(view.box) if view.box is not None else None,
                        "negative": view.negative,
                        "created_at": view.created_at.isoformat(),
                    }
                )
            entries.append(
                {
                    "id": concept.id,
                    "memory": {"kind": scope.kind.value, "chat_id": scope.external_id},
                    "name": concept.name,
                    "description": concept.description,
                    "category": concept.category,
                    "created_by": concept.created_by,
                    "created_at": concept.created_at.isoformat(),
                    "updated_at": concept.updated_at.isoformat(),
                    "views": photos,
                }
            )
        manifest = {
            "platform": platform,
            "user_id": user_id,
            "exported_at": datetime.now(UTC).isoformat(),
            "concepts": entries,
        }
        archive.writestr("concepts.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return buffer.getvalue()


def add_photo_index(archive_bytes: bytes, indexed: Sequence[tuple[str, str, FoundPhoto]]) -> bytes:
    """The export with photo_index.json added: the photos the user posted to indexed memories, as
    (memory kind, chat id, photo); their thumbnails under index/ when the memory kept them."""
    buffer = io.BytesIO(archive_bytes)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        entries: list[dict[str, object]] = []
        for kind, chat_id, photo in indexed:
            thumbnail = None
            if photo.thumbnail_jpeg is not None:
                thumbnail = f"index/{photo.id}.{v.image_kind(photo.thumbnail_jpeg)}"
                archive.writestr(thumbnail, photo.thumbnail_jpeg)
            entries.append(
                {
                    "id": photo.id,
                    "memory": {"kind": kind, "chat_id": chat_id},
                    "location": photo.location,
                    "posted_at": photo.posted_at.isoformat(),
                    "recognised": [
                        {"name": seen.name, "similarity": round(seen.similarity, 4), "uncertain": seen.uncertain}
                        for seen in photo.concepts
                    ],
                    "thumbnail": thumbnail,
                }
            )
        archive.writestr("photo_index.json", json.dumps({"photos": entries}, ensure_ascii=False, indent=2))
    return buffer.getvalue()
