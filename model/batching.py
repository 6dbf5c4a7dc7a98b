"""A dynamic micro-batcher: many threads submit requests, one serving thread runs them through a
network in batches. Requests that arrive within `max_wait_s` of the first one (or until `max_batch`
are waiting) share one forward pass; requests whose `key` differs (e.g. a detector's class list)
never share one. A CUDA out-of-memory error frees the cache and splits the batch in halves; a lone
request that still does not fit fails alone, with the error, and the serving thread goes on.

No request is lost: `submit` and `close` take one lock, so a request is either queued before the
close (and then run or failed with EngineClosed) or refused by it; a serving thread that dies fails
its running batch, everything queued and every later submit with EngineClosed; and `run` waits no
longer than the request's deadline (plus `result_grace_s`), then gives up with DeadlinePassed."""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")

# How long past a request's deadline its caller still waits for a result already on its way.
RESULT_GRACE_S = 2.0

# A batch function returns one result per request, in order; an exception in the list fails that
# request alone (e.g. a prompt that cannot fit the context), raising fails them all.
BatchFunction = Callable[[Sequence[Req]], Sequence[Res | BaseException]]


class EngineClosed(RuntimeError):
    """The engine was shut down before this request ran."""


class EngineUnavailable(RuntimeError):
    """A remote serving engine (the vLLM server) cannot answer now: unreachable, timed out, or it
    failed (HTTP 5xx). The request may succeed later; the message names the setting to check."""


class DeadlinePassed(TimeoutError):
    """The request's deadline passed before it could run; it was dropped, not run."""


_deadline: ContextVar[float | None] = ContextVar("rapbot_request_deadline", default=None)


@contextmanager
def request_deadline(seconds: float | None) -> Iterator[None]:
    """Every network call made inside this block belongs to a request that is worthless after
    `seconds`: a batcher drops it if it is still queued then, and generation stops its row."""
    global _in_flight
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    with _in_flight_lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight -= 1
        _deadline.reset(token)


# Requests inside request_deadline() blocks in this process: a batcher waits for more requests only
# while some of them are in no batcher (about to arrive); a lone request never pays the window.
_in_flight = 0
_in_flight_lock = threading.Lock()


def requests_in_flight() -> int:
    """How many requests of this process are inside request_deadline() blocks (0: not tracked)."""
    return _in_flight


# Jobs submitted to any batcher of this process and not finished yet. A request in flight that has
# none is between two stages (searching, loading photos...), so it may join a batch being formed.
_in_batchers = 0


def jobs_in_batchers() -> int:
    return _in_batchers


def _track_job(future: Future[Any]) -> None:
    global _in_batchers
    with _in_flight_lock:
        _in_batchers += 1
    future.add_done_callback(_job_done)


def _job_done(_future: Future[Any]) -> None:
    global _in_batchers
    with _in_flight_lock:
        _in_batchers -= 1


def current_deadline() -> float | None:
    """The time.monotonic() deadline of the request this thread serves, if any."""
    return _deadline.get()


def check_deadline(what: str = "the request") -> None:
    """Raise DeadlinePassed when this thread's request is past its deadline (before a write that
    its client, having given up, must never see happen later)."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlinePassed(f"{what}: its deadline passed")


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError (and its older RuntimeError form), without importing torch."""
    return type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(exc)


def free_accelerator_memory() -> None:
    """Give cached CUDA blocks back after an out-of-memory error, so a smaller retry can fit."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a dependency of model/
        pass


@dataclass
class BatcherStats:
    """What a batcher has done; `mean_batch` is what batching bought."""

    batches: int = 0
    requests: int = 0
    largest: int = 0
    busy_s: float = 0.0  # time inside the batch function
    oom_splits: int = 0
    expired: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # batch size -> how many batches

    @property
    def mean_batch(self) -> float:
        return self.requests / self.batches if self.batches else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "batches": self.batches,
            "requests": self.requests,
            "mean_batch": round(self.mean_batch, 3),
            "largest": self.largest,
            "busy_s": round(self.busy_s, 4),
            "oom_splits": self.oom_splits,
            "expired": self.expired,
        }


@dataclass
class _Job(Generic[Req, Res]):
    request: Req
    key: Hashable
    deadline: float | None  # time.monotonic() after which the request is not worth running
    future: Future[Res]


class MicroBatcher(Generic[Req, Res]):
    """Collects concurrent requests into batches for `run_batch`, on one daemon thread."""

    def __init__(
        self,
        name: str,
        run_batch: BatchFunction[Req, Res],
        *,
        max_batch: int,
        max_wait_s: float,
        key: Callable[[Req], Hashable] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.name = name
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self.stats = BatcherStats()
        self._run_batch = run_batch
        self._key = key or (lambda _request: None)
        self.result_grace_s = RESULT_GRACE_S
        self._queue: queue.Queue[_Job[Req, Res] | None] = queue.Queue()
        self._held: list[_Job[Req, Res]] = []  # taken from the queue but of another key than the last batch
        self._running: list[_Job[Req, Res]] = []  # the batch the serving thread is running
        self._closed = threading.Event()
        self._lock = threading.Lock()  # submit and close: a request is queued before the close, or refused
        self._failure: BaseException | None = None  # why the serving thread died, if it did
        self._thread = threading.Thread(target=self._serve, name=f"rapbot-{name}-batcher", daemon=True)
        self._thread.start()

    # ---- callers --------------------------------------------------------------------------------

    def submit(self, request: Req, deadline: float | None = None) -> Future[Res]:
        """Queue `request`; its deadline defaults to the one of the request_deadline() block. The
        future always completes: with the result, the request's own error, DeadlinePassed or
        EngineClosed."""
        deadline = current_deadline() if deadline is None else deadline
        future: Future[Res] = Future()
        job = _Job(request, self._key(request), deadline, future)
        with self._lock:
            if not self._closed.is_set():
                _track_job(future)
                self._queue.put(job)
                return future
        future.set_exception(self._closed_error())
        return future

    def run(self, request: Req, deadline: float | None = None) -> Res:
        """Submit and wait for this request's own result (or its own exception). With a deadline
        (given, or the request_deadline() block's) the wait ends `result_grace_s` after it with
        DeadlinePassed; without one it lasts until the batch ends, which the serving thread (or its
        death) guarantees."""
        deadline = current_deadline() if deadline is None else deadline
        future = self.submit(request, deadline)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) + self.result_grace_s
        try:
            return future.result(timeout)
        except TimeoutError:  # the wait's timeout, or the request's own DeadlinePassed
            if future.done():
                return future.result()
            future.cancel()  # still queued: never run it; running: its result is dropped
            raise DeadlinePassed(f"{self.name}: no result by the request's deadline") from None

    @property
    def waiting(self) -> int:
        """Requests queued for a coming batch (not the running one)."""
        return self._queue.qsize() + len(self._held)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop serving; requests still queued fail with EngineClosed (the running batch finishes;
        when it outlasts `timeout_s` the serving thread fails the queue once it ends)."""
        with self._lock:
            if not self._closed.is_set():
                self._closed.set()
                self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=timeout_s)
        if not self._thread.is_alive():
            self._fail_pending(self._closed_error())  # whatever a dead thread left behind

    def _closed_error(self) -> EngineClosed:
        if self._failure is not None:
            return EngineClosed(f"the {self.name} engine stopped: its serving thread failed ({self._failure!r})")
        return EngineClosed(f"the {self.name} engine is shut down")

    # ---- the serving thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        try:
            while True:
                batch = self._collect()
                if batch is None:
                    break
                self._running = batch
                self._run(batch)
                self._running = []
        except BaseException as exc:  # a bug, or a batch function that broke the thread: fail, never hang
            log.exception("%s: the serving thread failed; its requests fail with EngineClosed", self.name)
            self._failure = exc
        finally:
            with self._lock:
                self._closed.set()  # from here on submit refuses: nothing lands in a queue nobody reads
            self._fail_pending(self._closed_error())

    def _next(self, timeout: float | None) -> _Job[Req, Res] | None:
        """The next job (held ones first); None when the batcher closes or the wait times out."""
        if self._held:
            return self._held.pop(0)
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _collect(self) -> list[_Job[Req, Res]] | None:
        if self._closed.is_set():
            return None
        first = self._next(timeout=None)
        while first is None and not self._closed.is_set():
            first = self._next(timeout=None)
        if first is None:
            return None
        batch = [first]
        for job in [job for job in self._held if job.key == first.key][: self.max_batch - 1]:
            self._held.remove(job)
            batch.append(job)
        held: list[_Job[Req, Res]] = []
        until = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            # Jobs that came in while the last batch ran are already queued: take them without waiting.
            left = until - time.monotonic()
            in_flight = requests_in_flight()
            if in_flight and in_flight <= jobs_in_batchers():
                left = 0  # every request in flight is in this batch or another stage's queue: none is coming
            try:
                incoming = self._queue.get_nowait() if left <= 0 else self._queue.get(timeout=left)
            except queue.Empty:
                break
            if incoming is None:  # closing: finish this batch first
                self._closed.set()
                break
            (batch if incoming.key == first.key else held).append(incoming)
        self._held.extend(held)
        return batch

    def _run(self, batch: list[_Job[Req, Res]]) -> None:
        now = time.monotonic()
        live: list[_Job[Req, Res]] = []
        for job in batch:
            if not job.future.set_running_or_notify_cancel():
                continue  # its caller gave up (cancelled) while it was queued
            if job.deadline is not None and now > job.deadline:
                self.stats.expired += 1
                job.future.set_exception(DeadlinePassed(f"dropped by the {self.name} engine: its deadline passed"))
                continue
            live.append(job)
        if live:
            self._run_fitting(live, retried=False)

    def _run_fitting(self, jobs: list[_Job[Req, Res]], *, retried: bool) -> None:
        """Run `jobs` as one batch; on out-of-memory free the cache and run halves (a single job is
        retried once), so only a request that cannot fit on its own fails."""
        start = time.perf_counter()
        try:
            results = self._run_batch([job.request for job in jobs])
        except BaseException as exc:
            self.stats.busy_s += time.perf_counter() - start
            if is_out_of_memory(exc) and (len(jobs) > 1 or not retried):
                self.stats.oom_splits += 1
                free_accelerator_memory()
                log.warning("%s: out of memory on a batch of %d; retrying smaller", self.name, len(jobs))
                if len(jobs) == 1:
                    self._run_fitting(jobs, retried=True)
                else:
                    middle = len(jobs) // 2
                    self._run_fitting(jobs[:middle], retried=False)
                    self._run_fitting(jobs[middle:], retried=False)
                return
            if is_out_of_memory(exc):
                free_accelerator_memory()
            for job in jobs:
                job.future.set_exception(exc)
            return
        self._count(len(jobs), time.perf_counter() - start)
        if len(results) != len(jobs):
            error = RuntimeError(f"{self.name}: {len(results)} results for {len(jobs)} requests")
            for job in jobs:
                job.future.set_exception(error)
            return
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def _count(self, size: int, seconds: float) -> None:
        stats = self.stats
        stats.batches += 1
        stats.requests += size
        stats.largest = max(stats.largest, size)
        stats.busy_s += seconds
        stats.sizes[size] = stats.sizes.get(size, 0) + 1

    def _fail_pending(self, error: EngineClosed) -> None:
        """Fail every request not answered: the running batch's (after a failure), held and queued."""
        pending = [*self._running, *self._held]
        self._running, self._held = [], []
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                pending.append(job)
        for job in pending:
            if not job.future.done():
                with suppress(InvalidStateError):  # cancelled or answered meanwhile
                    job.future.set_exception(error)
