"""The photo index never goes ahead of an answer (docs/index.md): over Celery it is sent at the
pipeline queue's lowest priority; in a process, indexing waits while an answer runs."""

from __future__ import annotations

import threading
import time
from typing import Any

from worker.domain.indexing import AnswersInFlight
from worker.settings import WorkerSettings
from worker.transport.celery_client import BACKGROUND_PRIORITY, CeleryClient


def test_index_photo_is_sent_last_and_answers_first(monkeypatch: Any) -> None:
    client = CeleryClient(WorkerSettings(redis_url="redis://127.0.0.1:1/0"))
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(client.app, "send_task", lambda task, **kwargs: sent.append((task, kwargs)))
    client._publish("index_photo", {}, "r1")
    client._publish("answer", {}, "r2")
    (index_task, index_kwargs), (answer_task, answer_kwargs) = sent
    assert index_task == answer_task == "rapbot.pipeline", "the same GPU queue"
    assert index_kwargs["priority"] == BACKGROUND_PRIORITY == 9 and "priority" not in answer_kwargs


def test_indexing_waits_for_running_answers() -> None:
    answers = AnswersInFlight()
    assert answers.wait_idle(0.01), "idle: indexing goes at once"
    order: list[str] = []

    def answer() -> None:
        with answers:
            time.sleep(0.2)
            order.append("answer")

    thread = threading.Thread(target=answer)
    thread.start()
    time.sleep(0.05)
    assert answers.wait_idle(5.0)
    order.append("index")
    thread.join()
    assert order == ["answer", "index"]
    with answers:
        assert not answers.wait_idle(0.01), "a busy process: the step waits (up to its limit)"
