"""Every failure a request can meet, as a RapError with a message fit for the user. Unexpected
errors are logged here (with the traceback, never with request contents) and reported generically."""

from __future__ import annotations

import logging

from memory.errors import MemoryStoreError, StoreUnavailable
from model.batching import DeadlinePassed, EngineClosed, is_out_of_memory
from model.weights import WeightsMissing, missing_weights_message
from worker.errors import BACKEND_DOWN, MODEL_MISSING, OUT_OF_MEMORY, TIMEOUT, RapError

log = logging.getLogger(__name__)

INTERNAL = "internal"
DATABASE_DOWN_MESSAGE = "The memory database is not reachable right now. Nothing was changed; please try again later."
DATABASE_LOST_MESSAGE = (
    "The memory database stopped answering while saving, so I could not confirm whether it was saved. "
    "Please look (/concepts or /show) before trying again."
)


ENGINE_DOWN_MESSAGE = "The model server is not reachable right now. Nothing was changed; please try again later."
TIMEOUT_MESSAGE = "That took too long and was stopped. Please try again, maybe with a smaller photo."


def as_rap_error(exc: BaseException) -> RapError:
    if isinstance(exc, RapError):
        return exc
    if isinstance(exc, StoreUnavailable):
        # Our own words: the store's message may name the database's address.
        log.error("memory store unavailable: %s", type(exc.__cause__ or exc).__name__)
        # "Nothing was changed" only when that is known: every write of a request is one
        # transaction, so a failure before its commit changed nothing; one during the commit may have.
        return RapError(BACKEND_DOWN, DATABASE_DOWN_MESSAGE if exc.nothing_changed else DATABASE_LOST_MESSAGE)
    if isinstance(exc, MemoryStoreError):
        return RapError(exc.code, exc.message)
    if type(exc).__name__ == "WeightsMissing":  # model.weights.WeightsMissing: every missing weight, once
        return RapError(MODEL_MISSING, missing_weights_message(exc) if isinstance(exc, WeightsMissing) else str(exc))
    if is_out_of_memory(exc):
        return RapError(OUT_OF_MEMORY, "The model ran out of memory on this photo. Try a smaller photo, or later.")
    if isinstance(exc, DeadlinePassed) or type(exc).__name__ == "SoftTimeLimitExceeded":
        return RapError(TIMEOUT, TIMEOUT_MESSAGE)
    if isinstance(exc, EngineClosed) or type(exc).__name__ == "EngineUnavailable":  # model.vllm: server down
        log.error("serving engine unavailable: %s", exc)
        return RapError(BACKEND_DOWN, ENGINE_DOWN_MESSAGE)
    if type(exc).__name__ in ("OperationalError", "InterfaceError"):  # SQLAlchemy/psycopg: Postgres down
        log.error("database unreachable: %s", type(exc).__name__)
        return RapError(BACKEND_DOWN, DATABASE_DOWN_MESSAGE)
    log.exception("unexpected error in a request", exc_info=exc)
    return RapError(INTERNAL, "Something went wrong on our side. Nothing was changed; please try again.")
