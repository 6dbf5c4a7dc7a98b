"""The micro-batcher that serves every network: concurrent requests share a batch, each gets its
own result or its own error, class lists never mix, deadlines drop stale requests, and a GPU
out-of-memory error splits the batch instead of failing everyone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from model.batching import DeadlinePassed, EngineClosed, MicroBatcher, request_deadline


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which is how the batcher recognises one."""


class Recorder:
    """A batch function that squares numbers and records the batches it was given; `gate` holds
    the first batch until the test opens it, so later requests pile up deterministically."""

    def __init__(self, fits: int = 1000, gate: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fits = fits
        self.gate = gate
        self.entered = threading.Event()

    def __call__(self, requests: Sequence[int]) -> list[int | BaseException]:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        if len(requests) > self.fits:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.batches.append(list(requests))
        return [ValueError(f"{r} is negative") if r < 0 else r * r for r in requests]


def test_requests_waiting_together_share_one_batch_and_get_their_own_results() -> None:
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    batcher: MicroBatcher[int, int] = MicroBatcher("t", recorder, max_batch=8, max_wait_s=0)
    first = batcher.submit(1)
    assert recorder.entered.wait(10)  # the first batch is running and held
    queued = [batcher.submit(n) for n in (2, 3, -4, 5)]
    gate.set()
    assert first.result(10) == 1
    assert [f.result(10) for f in queued if f is not queued[2]] == [4, 9, 25]
    with pytest.raises(ValueError, match="-4 is negative"):
        queued[2].result(10)
    assert recorder.batches == [[1], [2, 3, -4, 5]]
    assert batcher.stats.batches == 2 and batcher.stats.requests == 5 and batcher.stats.largest == 4
    batcher.close()


def test_a_batch_never_exceeds_max_batch() -> None:
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    batcher: MicroBatcher[int, int] = MicroBatcher("t", recorder, max_batch=3, max_wait_s=0)
    futures = [batcher.submit(0)]
    assert recorder.entered.wait(10)
    futures += [batcher.submit(n) for n in range(1, 8)]
    gate.set()
    assert [f.result(10) for f in futures] == [n * n for n in range(8)]
    assert [len(b) for b in recorder.batches] == [1, 3, 3, 1]
    batcher.close()


def test_requests_with_different_keys_never_share_a_batch() -> None:
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    batcher: MicroBatcher[int, int] = MicroBatcher("t", recorder, max_batch=8, max_wait_s=0, key=lambda n: n % 2)
    futures = [batcher.submit(0)]
    assert recorder.entered.wait(10)
    futures += [batcher.submit(n) for n in (1, 2, 3, 4, 5)]
    gate.set()
    assert [f.result(10) for f in futures] == [0, 1, 4, 9, 16, 25]
    assert sorted(recorder.batches) == [[0], [1, 3, 5], [2, 4]]
    batcher.close()


def test_out_of_memory_splits_the_batch_and_only_what_cannot_fit_fails() -> None:
    gate = threading.Event()
    recorder = Recorder(fits=2, gate=gate)
    batcher: MicroBatcher[int, int] = MicroBatcher("t", recorder, max_batch=8, max_wait_s=0)
    first = batcher.submit(0)
    assert recorder.entered.wait(10)
    futures = [batcher.submit(n) for n in range(1, 6)]  # 5 waiting: too many for "memory"
    gate.set()
    assert first.result(10) == 0
    assert [f.result(10) for f in futures] == [1, 4, 9, 16, 25]
    assert all(len(batch) <= 2 for batch in recorder.batches)
    assert batcher.stats.oom_splits >= 2

    lonely = Recorder(fits=0)  # nothing fits: the lone request is retried once, then fails alone
    failing: MicroBatcher[int, int] = MicroBatcher("t", lonely, max_batch=8, max_wait_s=0)
    with pytest.raises(OutOfMemoryError):
        failing.run(7)
    assert failing.stats.oom_splits == 1
    batcher.close()
    failing.close()


def test_a_request_whose_deadline_passed_while_queued_is_dropped_not_run() -> None:
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    batcher: MicroBatcher[int, int] = MicroBatcher("t", recorder, max_batch=8, max_wait_s=0)
    first = batcher.submit(1)
    assert recorder.entered.wait(10)
    stale = batcher.submit(2, deadline=time.monotonic() - 1)
    with request_deadline(300):  # the deadline of the request this thread serves
        fresh = batcher.submit(3)
    gate.set()
    assert first.result(10) == 1 and fresh.result(10) == 9
    with pytest.raises(DeadlinePassed):
        stale.result(10)
    assert [2] not in recorder.batches and batcher.stats.expired == 1
    batcher.close()


def test_closing_fails_what_is_still_queued_and_refuses_new_requests() -> None:
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    batcher: MicroBatcher[int, int] = MicroBatcher("t", recorder, max_batch=1, max_wait_s=0)
    running = batcher.submit(1)
    assert recorder.entered.wait(10)
    queued = batcher.submit(2)
    closer = threading.Thread(target=batcher.close)
    closer.start()
    while not batcher.closed:
        time.sleep(0.01)
    gate.set()
    closer.join(10)
    assert running.result(10) == 1
    with pytest.raises(EngineClosed):
        queued.result(10)
    with pytest.raises(EngineClosed):
        batcher.run(3)


def test_a_wait_window_gathers_requests_that_arrive_a_little_later() -> None:
    recorder = Recorder()
    batcher: MicroBatcher[int, int] = MicroBatcher("t", recorder, max_batch=4, max_wait_s=30)
    # max_batch closes the window as soon as 4 are there, whatever the wait.
    futures = [batcher.submit(n) for n in range(4)]
    assert [f.result(10) for f in futures] == [0, 1, 4, 9]
    assert recorder.batches == [[0, 1, 2, 3]]
    batcher.close()
