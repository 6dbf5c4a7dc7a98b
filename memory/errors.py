"""Typed errors of the store. Every one carries a message fit to show a user, and a raised error
always means nothing was changed."""

from __future__ import annotations


class MemoryStoreError(Exception):
    """Base of every store error. `str(err)` is the user-facing message."""

    code = "memory_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidName(MemoryStoreError):
    code = "invalid_name"


class DuplicateName(MemoryStoreError):
    code = "duplicate_name"


class DuplicatePhoto(MemoryStoreError):
    """The concept already holds this very photo (a retried add, or the same photo sent twice)."""

    code = "already_saved"


class InvalidDescription(MemoryStoreError):
    code = "invalid_description"


class InvalidEmbedding(MemoryStoreError):
    """Wrong dimension, not finite, or an encoder that differs from the scope's other views."""

    code = "invalid_embedding"


class UnknownConcept(MemoryStoreError):
    code = "unknown_concept"


class QuotaExceeded(MemoryStoreError):
    code = "quota_exceeded"


class PermissionDenied(MemoryStoreError):
    """A locked group memory written by a non-moderator, or forgetting someone else's concept."""

    code = "permission_denied"


class InvalidImage(MemoryStoreError):
    code = "invalid_image"


class InvalidSetting(MemoryStoreError):
    code = "invalid_setting"


class StoreUnavailable(MemoryStoreError):
    """The database cannot be reached. `nothing_changed`: it failed before any commit, so the
    write (one transaction) surely did not happen."""

    code = "store_unavailable"
    nothing_changed = True


class CommitUnconfirmed(StoreUnavailable):
    """The database stopped answering during the commit itself: the write may or may not be stored."""

    nothing_changed = False


class AlreadyUsed(MemoryStoreError):
    """A single-use token (a console sign-in link's nonce) used again."""

    code = "already_used"


class InvalidCategory(MemoryStoreError):
    code = "invalid_category"


class UnknownScope(MemoryStoreError):
    """A scope id that does not exist (any more): e.g. the chat's memory was erased meanwhile."""

    code = "unknown_scope"
