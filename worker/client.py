"""The interface every frontend calls. Two implementations: `LocalClient` (in-process, embedded
default) and `CeleryClient` (when RAPBOT_REDIS_URL is set); `get_client()` picks one from settings.

Every method raises `worker.errors.RapError` on failure, with a message fit to show the user, and
a failed call changes nothing."""

from __future__ import annotations

from typing import Literal, Protocol

from worker.schemas import (
    AnswerResult,
    AuditItem,
    ConceptDetail,
    ConceptPage,
    ConceptSummary,
    ErasureSummary,
    GroupSettings,
    RememberResult,
    Requester,
)

Choice = int | Literal["whole", "cancel"]


class RapClient(Protocol):
    async def remember(
        self, who: Requester, name: str, description: str, images: list[bytes], request_id: str | None = None
    ) -> RememberResult:
        """One image: detect; one dominant box -> stored; several -> candidates to choose from.
        Several images (an album): one concept, every image a view, the dominant box of each."""
        ...

    async def choose(self, who: Requester, pending_id: str, choice: Choice) -> RememberResult: ...

    async def add_view(
        self, who: Requester, name: str, image: bytes, request_id: str | None = None
    ) -> ConceptSummary: ...

    async def answer(self, who: Requester, image: bytes | None, text: str | None) -> AnswerResult:
        """Photo and no text: a personalised caption. Photo and text: an answer about the photo.
        Text only: a text-only answer using the concepts it names."""
        ...

    async def feedback(self, who: Requester, feedback_id: str, name: str | None, correct: bool) -> ConceptSummary:
        """Yes (`correct`) or no to a concept a photo answer recognised: `feedback_id` is that
        Recognised's (it lasts RAPBOT_FEEDBACK_TTL_S), `name` the concept meant (None: the one the id
        is for). Yes adds the crop as a view of it; no as a negative view, so a crop closer to that
        than to its own photos is no longer recognised as it. RapError no_feedback once expired."""
        ...

    async def list_concepts(self, who: Requester, offset: int = 0, limit: int = 20) -> ConceptPage: ...

    async def show(self, who: Requester, name: str) -> ConceptDetail: ...

    async def edit(self, who: Requester, name: str, description: str) -> ConceptSummary: ...

    async def rename(self, who: Requester, old: str, new: str) -> ConceptSummary: ...

    async def recategorise(self, who: Requester, name: str, category: str) -> ConceptSummary: ...

    async def forget(self, who: Requester, name: str) -> None: ...

    async def share(self, who: Requester, name: str) -> ConceptSummary:
        """Copy `name` from the requester's private memory into the group of `who.chat_id`."""
        ...

    async def export(self, who: Requester) -> bytes:
        """A zip (JSON + images) of everything the requester stored, on this platform."""
        ...

    async def erase(self, who: Requester) -> ErasureSummary:
        """Erase the requester everywhere on this platform: own memory and group contributions."""
        ...

    async def get_settings(self, who: Requester) -> GroupSettings: ...

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

    async def audit(self, who: Requester, limit: int = 20) -> list[AuditItem]: ...

    async def purge(self, who: Requester, member_id: str) -> int:
        """Moderators only: remove one member's contributions from the group. Returns how many."""
        ...

    async def group_chats(self, platform: str) -> list[str]:
        """The chat ids of every group memory on a platform (the web gallery checks membership in them)."""
        ...

    async def close(self) -> None: ...
