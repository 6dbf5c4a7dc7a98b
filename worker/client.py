"""The operation table: every call a frontend can make of the worker, declared once.

Each method of `RapClient` is a stub under `@operation(queue)`: its name, its arguments (the stub's
signature), its result type (its return annotation) and its queue (the pipeline queue runs
networks; the store queue never waits behind them) make one `Operation` in `OPERATIONS`. The
clients (worker.transport: `LocalClient` in-process, `CeleryClient` over Redis) implement only
`_call(name, **arguments)`; the Celery tasks route and decode by the table; the metered wrapper
(worker.ops.metered) wraps `_call`; and `RapService` (worker.domain.service) has one method per
operation with the same arguments (`check_service` says which do not).

Every operation raises `worker.errors.RapError` on failure, with a message fit to show the user, and
a failed call changes nothing."""

# The stubs under @operation have no body: the descriptor runs `_call` instead.
# mypy: disable-error-code="empty-body"
from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, get_type_hints, overload

from worker.index_schemas import FindResult, IndexedPhotos, PhotoIndexStatus
from worker.schemas import (
    AnswerResult,
    AuditItem,
    ConceptDetail,
    ConceptPage,
    ConceptSummary,
    ErasureSummary,
    GroupSettings,
    Permissions,
    RememberResult,
    Requester,
)

P = ParamSpec("P")
R = TypeVar("R")
Queue = Literal["pipeline", "store"]
PIPELINE: Queue = "pipeline"  # runs networks: the GPU queue, the model lock, the CPU fallback
STORE: Queue = "store"  # memory only: served by processes that load no network


@dataclass(frozen=True)
class Operation:
    name: str
    queue: Queue
    signature: inspect.Signature = field(repr=False)  # without `self`
    stub: Callable[..., Any] = field(repr=False)
    # Background work (the photo index): sent at the queue's lowest priority, so anything a user
    # waits for is taken first (worker/transport/celery_client.py).
    background: bool = False

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(self.signature.parameters)

    @functools.cached_property
    def result_type(self) -> Any:
        """The result's type, from the stub's return annotation (None for no result)."""
        hint = get_type_hints(self.stub)["return"]
        return None if hint is type(None) else hint

    def arguments(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A call's arguments by name, defaults filled in (TypeError when they do not fit)."""
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)


OPERATIONS: dict[str, Operation] = {}


class _Declared(Generic[P, R]):
    """The descriptor `@operation` leaves on RapClient: on an instance, an async callable with the
    stub's signature that runs `instance._call(name, **arguments)`."""

    def __init__(
        self, stub: Callable[Concatenate[Any, P], Awaitable[R]], queue: Queue, background: bool = False
    ) -> None:
        signature = inspect.signature(stub)
        parameters = list(signature.parameters.values())[1:]  # without self
        self.operation = Operation(stub.__name__, queue, signature.replace(parameters=parameters), stub, background)
        if self.operation.name in OPERATIONS:
            raise ValueError(f"operation {self.operation.name!r} declared twice")
        OPERATIONS[self.operation.name] = self.operation
        functools.update_wrapper(self, stub)  # type: ignore[arg-type]

    @overload
    def __get__(self, instance: None, owner: type) -> _Declared[P, R]: ...
    @overload
    def __get__(self, instance: RapClient, owner: type) -> Callable[P, Awaitable[R]]: ...
    def __get__(self, instance: RapClient | None, owner: type) -> Any:
        if instance is None:
            return self
        operation = self.operation

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            result: R = await instance._call(operation.name, **operation.arguments(*args, **kwargs))
            return result

        call.__name__ = operation.name
        call.__doc__ = operation.stub.__doc__
        return call


def operation(
    queue: Queue, *, background: bool = False
) -> Callable[[Callable[Concatenate[Any, P], Awaitable[R]]], _Declared[P, R]]:
    def declare(stub: Callable[Concatenate[Any, P], Awaitable[R]]) -> _Declared[P, R]:
        return _Declared(stub, queue, background)

    return declare


def queue_of(method: str) -> Queue:
    return OPERATIONS[method].queue


def check_service(service: type) -> list[str]:
    """What is wrong between the table and a service class (worker.domain.service.RapService): an
    operation it lacks, or one whose arguments differ. Empty when they agree."""
    problems = []
    for name, op in OPERATIONS.items():
        method = getattr(service, name, None)
        if method is None:
            problems.append(f"{name}: no such method")
            continue
        served = tuple(inspect.signature(method).parameters)[1:]
        if served != op.parameters:
            problems.append(f"{name}: takes {served}, the table says {op.parameters}")
    return problems


Choice = int | Literal["whole", "cancel"]


class RapClient:
    """Every operation a frontend can ask for, declared once: `@operation(queue)` over a method stub
    gives its name, arguments (the stub's signature), result type (its return annotation) and queue.
    A client implements `_call(name, **arguments)`; every method below turns into that call."""

    async def _call(self, method: str, **kwargs: Any) -> Any:
        """Run operation `method` with its arguments by name; raise RapError on failure."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    @operation(PIPELINE)
    async def remember(
        self, who: Requester, name: str, description: str, images: list[bytes], request_id: str | None = None
    ) -> RememberResult:
        """One image: detect; one dominant box -> stored; several -> candidates to choose from.
        Several images (an album): one concept, every image a view, the dominant box of each."""
        ...

    @operation(PIPELINE)
    async def choose(self, who: Requester, pending_id: str, choice: Choice) -> RememberResult: ...

    @operation(PIPELINE)
    async def add_view(
        self, who: Requester, name: str, image: bytes, request_id: str | None = None
    ) -> ConceptSummary: ...

    @operation(PIPELINE)
    async def answer(self, who: Requester, image: bytes | None, text: str | None) -> AnswerResult:
        """Photo and no text: a personalised caption. Photo and text: an answer about the photo.
        Text only: a text-only answer using the concepts it names."""
        ...

    @operation(STORE)
    async def feedback(self, who: Requester, feedback_id: str, name: str | None, correct: bool) -> ConceptSummary:
        """Yes (`correct`) or no to a concept a photo answer recognised: `feedback_id` is that
        Recognised's (it lasts RAPBOT_FEEDBACK_TTL_S), `name` the concept meant (None: the one the id
        is for). Yes adds the crop as a view of it; no as a negative view, so a crop closer to that
        than to its own photos is no longer recognised as it. RapError no_feedback once expired."""
        ...

    @operation(STORE)
    async def list_concepts(self, who: Requester, offset: int = 0, limit: int = 20) -> ConceptPage: ...

    @operation(STORE)
    async def show(self, who: Requester, name: str) -> ConceptDetail: ...

    @operation(STORE)
    async def edit(self, who: Requester, name: str, description: str) -> ConceptSummary: ...

    @operation(STORE)
    async def rename(self, who: Requester, old: str, new: str) -> ConceptSummary: ...

    @operation(STORE)
    async def recategorise(self, who: Requester, name: str, category: str) -> ConceptSummary: ...

    @operation(STORE)
    async def forget(self, who: Requester, name: str) -> None: ...

    @operation(STORE)
    async def share(self, who: Requester, name: str) -> ConceptSummary:
        """Copy `name` from the requester's private memory into the group of `who.chat_id`."""
        ...

    @operation(STORE)
    async def export(self, who: Requester) -> bytes:
        """A zip (JSON + images) of everything the requester stored, on this platform."""
        ...

    @operation(STORE)
    async def erase(self, who: Requester) -> ErasureSummary:
        """Erase the requester everywhere on this platform: own memory and group contributions."""
        ...

    @operation(STORE)
    async def get_settings(self, who: Requester) -> GroupSettings: ...

    @operation(STORE)
    async def update_settings(
        self,
        who: Requester,
        *,
        locked: bool | None = None,
        similarity_threshold: float | None = None,
        auto_caption: bool | None = None,
    ) -> GroupSettings:
        """Moderators only in groups (RapError permission_denied otherwise)."""
        ...

    @operation(STORE)
    async def audit(self, who: Requester, limit: int = 20) -> list[AuditItem]: ...

    @operation(STORE)
    async def purge(self, who: Requester, member_id: str) -> int:
        """Moderators only: remove one member's contributions from the group. Returns how many."""
        ...

    @operation(STORE)
    async def group_chats(self, who: Requester, candidates: list[str] | None = None) -> list[str]:
        """The group memories on the requester's platform the web gallery may ask the platform
        about for them: of `candidates` (e.g. their Discord guilds) those with a memory; without,
        those they were seen in or added to (newest first, bounded)."""
        ...

    @operation(STORE)
    async def permissions(self, who: Requester, name: str | None = None) -> Permissions:
        """What the policy allows the requester in the memory of `who` now (and on concept `name`):
        what a page may offer. Creates no memory."""
        ...

    @operation(STORE)
    async def open_session(
        self, who: Requester, session_hash: str, max_age_s: int, sign_in_nonce: str | None = None
    ) -> None:
        """Record a web gallery session (the SHA-256 hex of its random id). RapError already_used
        when `sign_in_nonce` signed in before."""
        ...

    @operation(STORE)
    async def session_active(self, who: Requester, session_hash: str) -> bool: ...

    @operation(STORE)
    async def end_sessions(self, who: Requester, session_hash: str | None = None) -> int:
        """End one gallery session of the requester, or all of them on their platform (None)."""
        ...

    # ---- the photo index (docs/index.md) -------------------------------------------------------
    @operation(PIPELINE, background=True)
    async def index_photo(
        self,
        who: Requester,
        images: list[bytes],
        locations: list[str],
        request_id: str | None = None,
        posted_at: list[float] | None = None,
    ) -> IndexedPhotos:
        """Photos posted in the chat of `who` (by `who.user_id`), with where to find each and when
        each was posted (Unix seconds; None: now): detected, embedded and kept in its memory's photo
        index when that is on and was on when they were posted. No generation; the lowest priority
        of the pipeline queue."""
        ...

    @operation(PIPELINE)
    async def find_photos(self, who: Requester, query: str, limit: int = 10) -> FindResult:
        """`bo` (bo's photos, newest first), `bo at the beach` (those ranked by CLIP text
        similarity), `red bicycle` (CLIP text search) in the memory's photo index."""
        ...

    @operation(STORE)
    async def photo_index(
        self,
        who: Requester,
        enabled: bool | None = None,
        retention_days: int | None = None,
        keep_thumbnails: bool | None = None,
    ) -> PhotoIndexStatus:
        """The photo index's settings; changing them is for moderators in a group (RapError
        permission_denied otherwise), the user in a private chat."""
        ...

    @operation(STORE)
    async def delete_photo_index(self, who: Requester) -> int:
        """Delete every photo of the memory's index (moderators in a group). Returns how many."""
        ...
