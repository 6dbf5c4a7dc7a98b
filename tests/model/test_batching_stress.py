"""The micro-batcher cannot lose a request: submits racing close() for 1000 rounds all end (a result
or EngineClosed), a serving thread that dies fails what it held and everything after, and a wait
ends at the request's deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

import pytest

from model.batching import DeadlinePassed, EngineClosed, MicroBatcher

ROUNDS = 1000
SUBMITTERS = 2
PER_SUBMITTER = 4


def _double(requests: Sequence[int]) -> list[int | BaseException]:
    return [r * 2 for r in requests]


def _slow_key(request: int) -> int:
    """A key that takes a moment: a submit is still on its way while close() runs."""
    time.sleep(0.0001)
    return request % 2


def _race(round_: int) -> list[Future[int]]:
    """SUBMITTERS threads submit while this one closes the batcher; the futures they got."""
    batcher: MicroBatcher[int, int] = MicroBatcher("stress", _double, max_batch=3, max_wait_s=0, key=_slow_key)
    go = threading.Barrier(SUBMITTERS + 1)
    futures: list[Future[int]] = []
    lock = threading.Lock()

    def submit(base: int) -> None:
        go.wait(10)
        for n in range(base, base + PER_SUBMITTER):
            future = batcher.submit(n)
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=submit, args=(i * PER_SUBMITTER,)) for i in range(SUBMITTERS)]
    for thread in threads:
        thread.start()
    go.wait(10)
    if round_ % 2:
        time.sleep(0)  # every other round, let the submitters get ahead of the close
    batcher.close()
    for thread in threads:
        thread.join(10)
    return futures


def test_submits_racing_close_are_each_answered_or_refused() -> None:
    started = time.monotonic()
    outcomes = {"answered": 0, "refused": 0}
    for round_ in range(ROUNDS):
        futures = _race(round_)
        assert len(futures) == SUBMITTERS * PER_SUBMITTER
        for future in futures:
            # Each is done once close() has returned and the submitters are through: none is left
            # in a queue that nobody reads.
            assert future.done(), f"round {round_}: a request was left hanging"
            error = future.exception(0)
            if error is None:
                outcomes["answered"] += 1
            else:
                assert isinstance(error, EngineClosed), error
                outcomes["refused"] += 1
    assert outcomes["answered"] + outcomes["refused"] == ROUNDS * SUBMITTERS * PER_SUBMITTER
    assert time.monotonic() - started < 20


class _Unsized:
    """A batch function's result whose len() breaks: a bug that ends the serving thread."""

    def __len__(self) -> int:
        raise SystemExit("the serving thread is killed")


def test_a_killed_serving_thread_fails_its_batch_its_queue_and_later_requests() -> None:
    entered, gate = threading.Event(), threading.Event()

    def dies(requests: Sequence[int]) -> _Unsized:
        entered.set()
        assert gate.wait(10)
        return _Unsized()

    batcher: MicroBatcher[int, int] = MicroBatcher("doomed", dies, max_batch=2, max_wait_s=0)  # type: ignore[arg-type]
    running = batcher.submit(1)
    assert entered.wait(10)
    queued = [batcher.submit(n) for n in (2, 3, 4)]
    gate.set()
    for future in [running, *queued]:
        with pytest.raises(EngineClosed, match="serving thread failed"):
            future.result(10)
    assert batcher.closed
    with pytest.raises(EngineClosed, match="serving thread failed"):
        batcher.run(5)
    batcher.close()  # closing a dead batcher is quick and harmless


def test_a_wait_ends_at_the_request_deadline_and_the_late_request_is_never_run() -> None:
    entered, gate = threading.Event(), threading.Event()
    ran: list[int] = []

    def slow(requests: Sequence[int]) -> list[int | BaseException]:
        entered.set()
        assert gate.wait(10)
        ran.extend(requests)
        return list(requests)

    batcher: MicroBatcher[int, int] = MicroBatcher("slow", slow, max_batch=1, max_wait_s=0)
    batcher.result_grace_s = 0.05
    hogging = batcher.submit(1)  # holds the serving thread
    assert entered.wait(10)
    started = time.monotonic()
    with pytest.raises(DeadlinePassed):
        batcher.run(2, deadline=time.monotonic() + 0.1)
    assert time.monotonic() - started < 5
    gate.set()
    assert hogging.result(10) == 1
    batcher.close()
    assert ran == [1]  # the request whose caller gave up was dropped, not run


def test_a_request_failing_with_its_own_deadline_is_not_mistaken_for_a_timeout() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher("t", _double, max_batch=1, max_wait_s=0)
    with pytest.raises(DeadlinePassed, match="dropped by the t engine"):
        batcher.run(1, deadline=time.monotonic() - 1)
    assert batcher.run(2, deadline=time.monotonic() + 30) == 4
    batcher.close()
