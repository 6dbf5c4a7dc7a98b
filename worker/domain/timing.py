"""Where a request's time went: per pipeline stage (detect, embed, search, generate), the part of
it spent inside the networks, and the size of the generation batch it rode in. The overhead of a
path (queues, Redis, Postgres, serialisation) is end-to-end time minus `model_s`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# Stages that run a network (the rest, like "search", are Postgres).
MODEL_STAGES = frozenset({"detect", "embed", "generate", "text", "faces"})


@dataclass
class RequestTiming:
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    generate_batch: int = 0  # requests in the generation batch this one rode in (0: no generation)
    generated_tokens: int = 0

    @property
    def model_s(self) -> float:
        """Seconds inside the networks (waiting in a batcher's queue included)."""
        return sum(seconds for name, seconds in self.stages.items() if name in MODEL_STAGES)

    def as_json(self) -> dict[str, Any]:
        return {
            "model_s": self.model_s,
            "stages": self.stages,
            "generate_batch": self.generate_batch,
            "generated_tokens": self.generated_tokens,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestTiming:
        return cls(
            stages={str(k): float(v) for k, v in (data.get("stages") or {}).items()},
            generate_batch=int(data.get("generate_batch") or 0),
            generated_tokens=int(data.get("generated_tokens") or 0),
        )


_current: ContextVar[RequestTiming | None] = ContextVar("rapbot_request_timing", default=None)


@contextmanager
def track_request() -> Iterator[RequestTiming]:
    """Collect the timing of the calls made inside this block."""
    timing = RequestTiming()
    token = _current.set(timing)
    try:
        yield timing
    finally:
        _current.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time one stage of the pipeline; repeated stages add up."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timing = _current.get()
        if timing is not None:
            timing.stages[name] = timing.stages.get(name, 0.0) + time.perf_counter() - start


def note_generation(batch: int, tokens: int) -> None:
    timing = _current.get()
    if timing is not None:
        timing.generate_batch = batch
        timing.generated_tokens += tokens
