"""The operation table (worker.client): one declaration per operation, from which the clients,
the tasks, the metered wrapper and the service derive."""

from __future__ import annotations

from typing import Any

import pytest

from worker.client import OPERATIONS, PIPELINE, STORE, RapClient, check_service, queue_of
from worker.domain.service import RapService
from worker.ops.metered import MeteredClient
from worker.schemas import Requester

WHO = Requester(platform="console", user_id="alice", chat_id="alice", chat_kind="user")


class Recorder(RapClient):
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def _call(self, method: str, **kwargs: Any) -> Any:
        self.calls.append((method, kwargs))
        return None

    async def close(self) -> None:
        pass


def test_the_service_serves_every_operation_with_the_same_arguments() -> None:
    assert check_service(RapService) == []


def test_a_service_that_drifts_from_the_table_is_named() -> None:
    class Drifted(RapService):
        def forget(self, who: Requester, concept: str) -> None:  # type: ignore[override]
            pass

    del_attr = {"group_chats"}
    problems = check_service(type("Missing", (Drifted,), {name: None for name in del_attr}))
    assert any(p.startswith("forget: takes") for p in problems)
    assert "group_chats: no such method" in problems


def test_networks_go_to_the_pipeline_queue_and_the_rest_to_the_store() -> None:
    assert {name for name, op in OPERATIONS.items() if op.queue == PIPELINE} == {
        "remember",
        "choose",
        "add_view",
        "answer",
        "index_photo",  # detect + embed, no generation (docs/index.md)
        "find_photos",  # embeds the query's text
    }
    assert {name for name, op in OPERATIONS.items() if op.background} == {"index_photo"}  # the lowest priority
    assert queue_of("feedback") == STORE  # never waits behind a generation


async def test_a_call_reaches_the_client_by_name_with_defaults_filled_in() -> None:
    client = Recorder()
    await client.list_concepts(WHO)
    await client.update_settings(WHO, locked=True)
    assert client.calls == [
        ("list_concepts", {"who": WHO, "offset": 0, "limit": 20}),
        ("update_settings", {"who": WHO, "locked": True, "similarity_threshold": None, "auto_caption": None}),
    ]


async def test_a_call_with_arguments_the_table_does_not_know_is_refused_before_it_travels() -> None:
    client = Recorder()
    with pytest.raises(TypeError):
        await client.forget(WHO, "bo", "extra")  # type: ignore[call-arg]
    assert client.calls == []


async def test_the_metered_client_passes_every_operation_through() -> None:
    inner = Recorder()
    await MeteredClient(inner).show(WHO, "bo")
    assert inner.calls == [("show", {"who": WHO, "name": "bo"})]
