"""The RapClient methods written once: each names a service method, its arguments and its result
type. LocalClient runs the method in this process; CeleryClient sends it to a worker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from worker.client import Choice
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

# Service methods that run networks: the GPU queue, the model lock and the CPU fallback.
MODEL_METHODS = frozenset({"remember", "choose", "add_view", "answer"})

# The result type of every service method (the Celery path uses it to decode JSON).
RESULT_TYPES: dict[str, Any] = {
    "remember": RememberResult,
    "choose": RememberResult,
    "add_view": ConceptSummary,
    "answer": AnswerResult,
    "list_concepts": ConceptPage,
    "show": ConceptDetail,
    "edit": ConceptSummary,
    "rename": ConceptSummary,
    "recategorise": ConceptSummary,
    "forget": None,
    "share": ConceptSummary,
    "export": bytes,
    "erase": ErasureSummary,
    "get_settings": GroupSettings,
    "update_settings": GroupSettings,
    "audit": list[AuditItem],
    "purge": int,
    "feedback": ConceptSummary,
    "group_chats": list[str],
}


class DispatchingClient(ABC):
    @abstractmethod
    async def _call(self, method: str, **kwargs: Any) -> Any:
        """Run service method `method` with `kwargs`; raise RapError on failure."""

    async def remember(
        self, who: Requester, name: str, description: str, images: list[bytes], request_id: str | None = None
    ) -> RememberResult:
        result: RememberResult = await self._call(
            "remember", who=who, name=name, description=description, images=images, request_id=request_id
        )
        return result

    async def choose(self, who: Requester, pending_id: str, choice: Choice) -> RememberResult:
        result: RememberResult = await self._call("choose", who=who, pending_id=pending_id, choice=choice)
        return result

    async def add_view(self, who: Requester, name: str, image: bytes, request_id: str | None = None) -> ConceptSummary:
        result: ConceptSummary = await self._call("add_view", who=who, name=name, image=image, request_id=request_id)
        return result

    async def answer(self, who: Requester, image: bytes | None, text: str | None) -> AnswerResult:
        result: AnswerResult = await self._call("answer", who=who, image=image, text=text)
        return result

    async def feedback(self, who: Requester, feedback_id: str, name: str | None, correct: bool) -> ConceptSummary:
        result: ConceptSummary = await self._call(
            "feedback", who=who, feedback_id=feedback_id, name=name, correct=correct
        )
        return result

    async def list_concepts(self, who: Requester, offset: int = 0, limit: int = 20) -> ConceptPage:
        result: ConceptPage = await self._call("list_concepts", who=who, offset=offset, limit=limit)
        return result

    async def show(self, who: Requester, name: str) -> ConceptDetail:
        result: ConceptDetail = await self._call("show", who=who, name=name)
        return result

    async def edit(self, who: Requester, name: str, description: str) -> ConceptSummary:
        result: ConceptSummary = await self._call("edit", who=who, name=name, description=description)
        return result

    async def rename(self, who: Requester, old: str, new: str) -> ConceptSummary:
        result: ConceptSummary = await self._call("rename", who=who, old=old, new=new)
        return result

    async def recategorise(self, who: Requester, name: str, category: str) -> ConceptSummary:
        result: ConceptSummary = await self._call("recategorise", who=who, name=name, category=category)
        return result

    async def forget(self, who: Requester, name: str) -> None:
        await self._call("forget", who=who, name=name)

    async def share(self, who: Requester, name: str) -> ConceptSummary:
        result: ConceptSummary = await self._call("share", who=who, name=name)
        return result

    async def export(self, who: Requester) -> bytes:
        result: bytes = await self._call("export", who=who)
        return result

    async def erase(self, who: Requester) -> ErasureSummary:
        result: ErasureSummary = await self._call("erase", who=who)
        return result

    async def get_settings(self, who: Requester) -> GroupSettings:
        result: GroupSettings = await self._call("get_settings", who=who)
        return result

    async def update_settings(
        self,
        who: Requester,
        *,
        locked: bool | None = None,
        similarity_threshold: float | None = None,
        auto_caption: bool | None = None,
    ) -> GroupSettings:
        result: GroupSettings = await self._call(
            "update_settings",
            who=who,
            locked=locked,
            similarity_threshold=similarity_threshold,
            auto_caption=auto_caption,
        )
        return result

    async def audit(self, who: Requester, limit: int = 20) -> list[AuditItem]:
        result: list[AuditItem] = await self._call("audit", who=who, limit=limit)
        return result

    async def purge(self, who: Requester, member_id: str) -> int:
        result: int = await self._call("purge", who=who, member_id=member_id)
        return result

    # ---- the web gallery ---------------------------------------------------------------------
    async def group_chats(self, platform: str) -> list[str]:
        result: list[str] = await self._call("group_chats", platform=platform)
        return result

    @abstractmethod
    async def close(self) -> None: ...
