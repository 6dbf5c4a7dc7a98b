"""Memories searched from RAM, exactly: each process keeps a copy of the views of the memories it
searched (one entry per scope, encoder and dimension), under a byte budget (RAPBOT_SEARCH_CACHE_MB),
least recently used out first.

A copy is only used while it is current: Postgres gives a memory a new `search_version` at every
committed change to its views or concepts (migration 0008), a copy remembers the number it was
loaded at, and every search first reads the numbers of its scopes (one small query). So a search
answers what the SQL scan would (memory/repositories/search.py, `nearest`) at the cost of that
query and a matrix product, instead of Postgres reading and scoring each view row (about 2-5 us a
view with pgvector 0.6.2; see docs/memory.md, "Retrieval figures")."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cachetools import LRUCache

from memory.types import ConceptInfo, SearchHit

log = logging.getLogger(__name__)

# Copies waiting to be loaded at most; a burst of searches of new memories beyond it scans Postgres
# (as every first search does) and asks again next time.
MAX_PENDING = 4096
# What one concept's info costs in RAM, roughly (strings, dates, the object): for the budget only.
_CONCEPT_BYTES = 600


@dataclass(frozen=True)
class ScopeViews:
    """One memory's views of one encoder and dimension, as of `version`."""

    version: int
    ids: npt.NDArray[np.int64]  # its own (not negative) views
    owners: npt.NDArray[np.int64]  # the concept of each own view
    matrix: npt.NDArray[np.float32]  # (views, dim), unit rows
    negative_owners: npt.NDArray[np.int64]  # the concept of each negative view
    negatives: npt.NDArray[np.float32]  # (negative views, dim)
    concepts: dict[int, ConceptInfo]  # every concept with a view here, counts as the search reports them

    @property
    def nbytes(self) -> int:
        arrays = (self.ids, self.owners, self.matrix, self.negative_owners, self.negatives)
        return sum(int(a.nbytes) for a in arrays) + _CONCEPT_BYTES * len(self.concepts) + 200


class SearchCache:
    """(scope id, encoder, dim) -> ScopeViews, byte-bounded LRU (cachetools), thread-safe.

    Copies are loaded by one background thread (`load_later`): loading a memory moves all its
    vectors to this process (about 15 ms for 1,000 views of 768 floats, 10x its scan), so the search
    that finds no current copy scans Postgres instead and no request waits for a load."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._entries: LRUCache[Hashable, ScopeViews] = LRUCache(
            maxsize=max(1, self.max_bytes), getsizeof=lambda entry: entry.nbytes
        )
        self._lock = threading.Condition()
        self._pending: set[Hashable] = set()
        self._loader: ThreadPoolExecutor | None = None
        self._loader_pid = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)

    def current(self, key: Hashable, version: int) -> ScopeViews | None:
        """The copy of `key` loaded at `version`, or None (none kept, or an older one: dropped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                self.hits += 1
                return entry
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None

    def keep(self, key: Hashable, entry: ScopeViews) -> None:
        with self._lock:
            if entry.nbytes <= self.max_bytes:  # a memory larger than the whole budget is not kept
                self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def load_later(self, key: Hashable, load: Callable[[], ScopeViews | None]) -> None:
        """Load `key`'s copy in the background (once at a time per key; at most MAX_PENDING waiting)."""
        with self._lock:
            if key in self._pending or len(self._pending) >= MAX_PENDING:
                return
            if self._loader is None or self._loader_pid != os.getpid():  # none yet, or forked since
                self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rapbot-search-cache")
                self._loader_pid = os.getpid()
            self._pending.add(key)
            self._loader.submit(self._load, key, load)

    def _load(self, key: Hashable, load: Callable[[], ScopeViews | None]) -> None:
        try:
            entry = load()  # None: the memory changed while it was read; the next search asks again
            if entry is not None:
                self.keep(key, entry)
        except Exception as error:  # a copy is an optimisation: the next search scans and asks again
            log.debug("search cache: loading %s failed: %s", key, type(error).__name__)
        finally:
            with self._lock:
                self._pending.discard(key)
                self._lock.notify_all()

    def settle(self, timeout_s: float = 30.0) -> bool:
        """Wait until no copy is being loaded (tests, benchmarks); False when `timeout_s` passed."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout=timeout_s)

    def close(self) -> None:
        with self._lock:
            loader, self._loader = self._loader, None
        if loader is not None:
            loader.shutdown(wait=False, cancel_futures=True)


def pgvector_inner_products(rows: npt.NDArray[np.float32], query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row's inner product with `query` (one vector, or one per row), rounded exactly as
    pgvector 0.6 built for AVX computes `<#>`: float32 products summed in 8 lanes in order, the
    lanes pairwise, then the 4-lane and scalar remainders (found by comparing bit for bit at dims
    13-768). So a similarity from a copy is the number the scan reports, to the last bit (tested
    against the embedded Postgres), and the same photo gets the same answer whichever path served
    it. (A pgvector built otherwise may differ in the last bit, about 1e-7.)"""
    rows = np.asarray(rows, dtype=np.float32)
    dim = rows.shape[1]
    products = rows * np.asarray(query, dtype=np.float32)
    main = dim - dim % 8
    lanes = np.zeros((rows.shape[0], 8), dtype=np.float32)
    for start in range(0, main, 8):
        lanes += products[:, start : start + 8]
    lanes = lanes[:, :4] + lanes[:, 4:]
    lanes = lanes[:, :2] + lanes[:, 2:]
    total = lanes[:, 0] + lanes[:, 1]
    rest = main
    if dim - main >= 4:  # the compiler's 4-lane epilogue, reduced pairwise and added
        tail = products[:, main : main + 4]
        pairs = tail[:, :2] + tail[:, 2:]
        total = total + (pairs[:, 0] + pairs[:, 1])
        rest = main + 4
    for column in range(rest, dim):  # then one at a time
        total = total + products[:, column]
    return total


def rank(entries: Sequence[ScopeViews], queries: npt.NDArray[np.float32], k: int) -> list[SearchHit]:
    """What `repositories.search.nearest` returns for these memories: for each query row its top-k
    own views (inner product of unit vectors = cosine), unpooled, each with its concept's best
    similarity to that concept's negative views for the same query row (None without any). The top
    k is chosen by a matrix product (BLAS rounding: a near-tie at the k-th place, within 1e-7, may
    break the other way than in the scan); the numbers reported are pgvector's own rounding."""
    own = [e for e in entries if len(e.ids)]
    if not own:
        return []
    ids = np.concatenate([e.ids for e in own])
    owners = np.concatenate([e.owners for e in own])
    matrix = np.concatenate([e.matrix for e in own])
    sims = matrix @ queries.T  # (views, query rows)
    concepts: dict[int, ConceptInfo] = {}
    for entry in own:
        concepts.update(entry.concepts)
    # Every (query row, chosen view) pair, scored in one call.
    pair_rows, pair_views = [], []
    for row in range(queries.shape[0]):
        column = sims[:, row]
        top = np.argpartition(-column, k - 1)[:k] if len(column) > k else np.arange(len(column))
        pair_rows.append(np.full(len(top), row))
        pair_views.append(top)
    rows, chosen = np.concatenate(pair_rows), np.concatenate(pair_views)
    similarity = pgvector_inner_products(matrix[chosen], queries[rows])
    # The same for every (hit, negative view of its concept) pair; the best per hit.
    negative_owners = np.concatenate([e.negative_owners for e in own])
    negative_best = np.full(len(chosen), -np.inf, dtype=np.float32)
    if len(negative_owners):
        negatives = np.concatenate([e.negatives for e in own])
        hit_of, negative_of = np.nonzero(owners[chosen][:, None] == negative_owners[None, :])
        if len(hit_of):
            scores = pgvector_inner_products(negatives[negative_of], queries[rows[hit_of]])
            np.maximum.at(negative_best, hit_of, scores)
    return [
        SearchHit(
            concept=concepts[int(owners[view])],
            similarity=float(similarity[n]),
            query_index=int(rows[n]),
            view_id=int(ids[view]),
            negative_similarity=None if negative_best[n] == -np.inf else float(negative_best[n]),
        )
        for n, view in enumerate(chosen.tolist())
    ]
