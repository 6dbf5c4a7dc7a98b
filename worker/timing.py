"""How long a request spent inside the networks, so the per-request overhead (everything else:
queues, Redis, Postgres, serialisation) can be measured as end-to-end time minus this."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_model_seconds: ContextVar[list[float] | None] = ContextVar("rapbot_model_seconds", default=None)


@contextmanager
def track_model_time() -> Iterator[list[float]]:
    """Collect model time for the calls made inside this block; read `sum(result)` afterwards."""
    spent: list[float] = []
    token = _model_seconds.set(spent)
    try:
        yield spent
    finally:
        _model_seconds.reset(token)


@contextmanager
def model_call() -> Iterator[None]:
    """Wrap one call into a network."""
    start = time.perf_counter()
    try:
        yield
    finally:
        spent = _model_seconds.get()
        if spent is not None:
            spent.append(time.perf_counter() - start)
