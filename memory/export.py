"""A user's export: a zip of concepts.json plus images/<view id>.<jpg|png>."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime

from memory import validation as v
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
