"""The RAP-260K sample schema (the release's JSON): what the builder writes and the trainer reads.

    {"id": "...", "image": "images/q.jpg",            # absent for text-only samples
     "conversations": [{"from": "human", "value": "<image>\\nIs <bo> in this image?"},
                       {"from": "gpt", "value": "Yes, <bo> is in the photo."}],
     "extra": {"crops/bo_0.jpg": {"name": "bo", "info": "...", "category": "dog"}},
     "type": "recognition"}

The human turns hold the bare question (after "<image>\\n" when there is a query image); the concept
entries are added from `extra`, in its order, when the prompt is built (model/prompt.py), exactly as
at inference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from model.prompt import IMAGE_TOKEN


class Turn(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: Literal["human", "gpt"] = Field(alias="from")
    value: str


class ExtraConcept(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    info: str = ""
    category: str = ""


class RapSample(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    image: str | None = None
    conversations: list[Turn] = Field(min_length=2)
    extra: dict[str, ExtraConcept] = Field(default_factory=dict)
    type: str = "passthrough"

    @field_validator("conversations")
    @classmethod
    def _alternating(cls, turns: list[Turn]) -> list[Turn]:
        if len(turns) % 2:
            raise ValueError("conversations must alternate human/gpt and end with a gpt turn")
        for i, turn in enumerate(turns):
            expected = "human" if i % 2 == 0 else "gpt"
            if turn.from_ != expected:
                raise ValueError(f"turn {i} is from {turn.from_!r}, expected {expected!r}")
        return turns

    @model_validator(mode="after")
    def _image_token(self) -> RapSample:
        first = self.conversations[0].value
        if self.image is not None and not first.startswith(IMAGE_TOKEN):
            raise ValueError(f"a sample with an image must start its first human turn with {IMAGE_TOKEN!r}")
        if self.image is None and IMAGE_TOKEN in first:
            raise ValueError(f"a text-only sample must not contain {IMAGE_TOKEN!r}")
        if any(IMAGE_TOKEN in t.value for t in self.conversations[1:]):
            raise ValueError(f"only the first human turn may hold {IMAGE_TOKEN!r}")
        return self

    @property
    def question(self) -> str:
        """The first human turn without its image placeholder."""
        return self.conversations[0].value.removeprefix(IMAGE_TOKEN + "\n")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def read_samples(path: Path) -> list[RapSample]:
    """Read and validate a samples JSON (a list), naming the first bad sample on error."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read samples from {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of samples")
    samples: list[RapSample] = []
    for i, item in enumerate(raw):
        try:
            samples.append(RapSample.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"{path}: sample {i} ({_sample_id(item)}): {_first_error(exc)}") from exc
    return samples


def _sample_id(item: object) -> str:
    return str(item.get("id", "no id")) if isinstance(item, dict) else "not an object"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
