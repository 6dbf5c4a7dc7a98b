"""The one error type frontends see. `code` is stable for programs, `message` is for the user."""

from __future__ import annotations


class RapError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[type[RapError], tuple[str, str]]:
        return (RapError, (self.code, self.message))


# Codes besides the memory store's own (memory.errors.*.code):
BAD_IMAGE = "bad_image"  # corrupt, not an image, too many pixels or bytes
MODEL_MISSING = "model_missing"  # weights not on disk and cannot be downloaded
TIMEOUT = "timeout"
ALREADY_SAVED = "already_saved"  # a retried remember / add-photo that had in fact been stored
DEAD_LETTER = "dead_letter"  # the request stopped its worker again and again: set aside, not retried
BACKEND_DOWN = "backend_down"  # Redis or Postgres unreachable
OUT_OF_MEMORY = "out_of_memory"
NO_PENDING = "no_pending"  # choose() without a pending remember (expired or never started)
NO_FEEDBACK = "no_feedback"  # feedback() on an answer that expired, was already answered, or never was
BAD_REQUEST = "bad_request"
