"""Exact per-scope nearest views in one SQL round trip (see docs/architecture.md, "Retrieval")."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from pgvector.psycopg.vector import VectorBinaryDumper
from psycopg import Pipeline
from psycopg.rows import namedtuple_row
from psycopg.types import TypeInfo
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from memory.errors import StoreUnavailable
from memory.repositories.concepts import concept_info
from memory.search_cache import ScopeViews
from memory.types import SearchHit

# Exact per-scope top-k for every query row in one statement (docs/architecture.md, "Retrieval"): the btree
# on (scope_id, encoder) narrows to the readable scopes, then an exact sort by cosine distance. The
# concepts come back in the same round trip. The queries are cast to vector[] once up front: a
# per-row CAST(text AS vector) in the ORDER BY re-parses the query for every row (25x slower).
# Run on the raw psycopg cursor (see _vector_cursor): `%(queries)b` sends the query vectors in
# pgvector's binary format, which SQLAlchemy's text-format binds cannot. Stored and query vectors
# are unit length (validation.unit_vectors), so the inner product (`<#>`, negated) is the cosine
# similarity at a third of the cost of `<=>`, which recomputes both norms for every row.
# Negative views (crops the user said are not that concept) never rank: the top-k is over the
# concepts' own views, and each hit row carries its concept's best negative similarity for that same
# query row (a handful of rows through ix_views_concept_id), so the caller can veto closer negatives.
_SEARCH_SQL = """
    WITH hits AS (
        SELECT q.idx - 1 AS query_index, hit.id AS view_id, hit.concept_id, -hit.negated_ip AS similarity,
               (SELECT -min(n.embedding <#> q.vec) FROM views n
                WHERE n.concept_id = hit.concept_id AND n.negative
                  AND n.encoder = %(encoder)s AND n.dim = %(dim)s) AS negative_similarity
        FROM unnest(%(queries)b::vector[]) WITH ORDINALITY AS q(vec, idx)
        CROSS JOIN LATERAL (
            SELECT v.id, v.concept_id, v.embedding <#> q.vec AS negated_ip
            FROM views v
            WHERE v.scope_id = ANY(%(scopes)s) AND v.encoder = %(encoder)s AND v.dim = %(dim)s
              AND NOT v.negative
            ORDER BY v.embedding <#> q.vec
            LIMIT %(k)s
        ) AS hit
    )
    SELECT h.query_index, h.view_id, h.similarity, h.negative_similarity, c.id, c.scope_id, c.name,
           c.description, c.category, c.created_by, c.created_at, c.updated_at, c.shared_from,
           (SELECT count(*) FROM views cv WHERE cv.concept_id = c.id AND NOT cv.negative
               AND NOT starts_with(cv.encoder, 'face:')) AS view_count,  -- face views are no photos
           (SELECT count(*) FROM views cv WHERE cv.concept_id = c.id AND cv.negative) AS negative_count
    FROM hits h JOIN concepts c ON c.id = h.concept_id
"""

# The plan above is the same for every call (an index scan of ix_views_scope_id_encoder for the
# scopes, whatever their sizes), but Postgres re-plans it on each call with the values bound (a
# custom plan): planning cost more than executing it for a small memory (0.25 ms of a 0.5 ms search).
# A generic plan is built once per pooled connection (psycopg prepares the statement from its 5th
# call). The setting is set and reset around the statement in one pipeline: one round trip, and the
# connection's other statements keep the default. Views are stored in (scope_id, encoder) order
# (migration 0006; `rapbot db cluster` orders the rows added since), so the scan reads one memory's
# views from consecutive pages, two views per page.
_GENERIC_PLAN = "SET plan_cache_mode = force_generic_plan"
_DEFAULT_PLAN = "RESET plan_cache_mode"


def _vector_cursor(session: Session) -> Any:
    """A raw psycopg cursor on the session's connection that sends numpy vectors in pgvector's
    binary format: formatting 768 floats as text in Python and parsing them again in Postgres cost
    over 1 ms per query vector. Only a dumper is registered (once per pooled connection), so what
    the ORM reads back is unchanged."""
    conn = session.connection()
    raw: Any = conn.connection.dbapi_connection
    if not conn.info.get("rapbot_binary_vectors"):
        info = TypeInfo.fetch(raw, "vector")
        if info is None:  # pragma: no cover - the migrations create the extension before any search
            raise StoreUnavailable("The database has no pgvector extension; run `rapbot db upgrade`.")
        info.register(raw)  # also teaches psycopg vector[] for lists of vectors
        dumper = type("QueryVectorDumper", (VectorBinaryDumper,), {"oid": info.oid})
        raw.adapters.register_dumper("numpy.ndarray", dumper)
        conn.info["rapbot_binary_vectors"] = True
    return raw.cursor(row_factory=namedtuple_row)


def nearest(
    s: Session, scope_ids: Sequence[int], matrix: npt.NDArray[np.float32], encoder: str, k: int
) -> list[SearchHit]:
    """For each query row its top-k own (not negative) views of this encoder and dimension in these
    scopes, unpooled; each hit carries its concept's best negative similarity for that query row."""
    params = {
        "queries": list(matrix),
        "scopes": [int(sid) for sid in scope_ids],
        "encoder": encoder,
        "dim": int(matrix.shape[1]),
        "k": int(k),
    }
    with _vector_cursor(s) as cursor:
        raw = cursor.connection
        if Pipeline.is_supported():
            try:
                with raw.pipeline():
                    raw.execute(_GENERIC_PLAN)
                    cursor.execute(_SEARCH_SQL, params)
                    raw.execute(_DEFAULT_PLAN)
            except psycopg.Error:
                # A failed search skips the RESET; in autocommit the SET stayed. (In a transaction
                # the rollback undoes it and this RESET fails too: nothing to do.)
                with contextlib.suppress(psycopg.Error):
                    raw.execute(_DEFAULT_PLAN)
                raise
        else:  # pragma: no cover - libpq < 14: custom plans, one round trip
            cursor.execute(_SEARCH_SQL, params)
        rows = cursor.fetchall()
    return [
        SearchHit(
            concept=concept_info(row, row.view_count, row.negative_count),
            similarity=float(row.similarity),
            query_index=row.query_index,
            view_id=row.view_id,
            negative_similarity=None if row.negative_similarity is None else float(row.negative_similarity),
        )
        for row in rows
    ]


# For memory/search_cache.py: the memories' current numbers (migration 0008), and one memory's
# views and concepts as the search above would see them, read between two reads of its number (all
# four statements in one round trip; each sees what was committed when it ran, so two equal
# numbers mean nothing of that memory changed in between).
_VERSIONS_SQL = "SELECT id, search_version FROM scopes WHERE id = ANY(%(scopes)s)"
_VERSION_SQL = "SELECT search_version FROM scopes WHERE id = %(scope)s"
_SCOPE_VIEWS_SQL = """
    SELECT array_agg(id) AS ids, array_agg(concept_id) AS owners, array_agg(negative) AS negative,
           string_agg(vector_send(embedding), ''::bytea) AS embeddings
    FROM views
    WHERE scope_id = %(scope)s AND encoder = %(encoder)s AND dim = %(dim)s
"""
_SCOPE_CONCEPTS_SQL = """
    WITH counted AS (  -- one pass over the memory's views (pages the statement before just read)
        SELECT concept_id,
               count(*) FILTER (WHERE NOT negative AND NOT starts_with(encoder, 'face:')) AS view_count,
               count(*) FILTER (WHERE negative) AS negative_count,
               bool_or(encoder = %(encoder)s AND dim = %(dim)s) AS searched
        FROM views WHERE scope_id = %(scope)s
        GROUP BY concept_id
    )
    SELECT c.id, c.scope_id, c.name, c.description, c.category, c.created_by, c.created_at, c.updated_at,
           c.shared_from, n.view_count, n.negative_count
    FROM counted n JOIN concepts c ON c.id = n.concept_id
    WHERE n.searched
"""


def search_versions(s: Session, scope_ids: Sequence[int]) -> dict[int, int]:
    """scope id -> its search_version, for those of these scopes that exist."""
    with _vector_cursor(s) as cursor:
        cursor.execute(_VERSIONS_SQL, {"scopes": [int(sid) for sid in scope_ids]})
        return {int(row.id): int(row.search_version) for row in cursor.fetchall()}


def load_scope(s: Session, scope_id: int, encoder: str, dim: int) -> ScopeViews | None:
    """One memory's views of this encoder and dimension with their concepts, or None when the
    memory changed while they were read (the caller searches in SQL this time)."""
    params = {"scope": int(scope_id), "encoder": encoder, "dim": int(dim)}
    raw: Any = s.connection().connection.dbapi_connection
    # The views' row comes in binary: a bytea in text form is hex, twice the bytes and a parse.
    before, views, concepts, after = (raw.cursor(row_factory=namedtuple_row, binary=i == 1) for i in range(4))
    with before, views, concepts, after:
        with raw.pipeline():  # one round trip; the results are read once it is synced
            before.execute(_VERSION_SQL, params)
            views.execute(_SCOPE_VIEWS_SQL, params)
            concepts.execute(_SCOPE_CONCEPTS_SQL, params)
            after.execute(_VERSION_SQL, params)
        first, last = before.fetchone(), after.fetchone()
        found, concept_rows = views.fetchone(), concepts.fetchall()
    if first is None or last is None or first.search_version != last.search_version:
        return None
    count = len(found.ids) if found is not None and found.ids else 0
    if count:
        # Every vector in pgvector's binary form (2-byte dim, 2 unused, big-endian float32s) in ONE
        # bytea: one object to move and decode, not a row object per view.
        blob = np.frombuffer(found.embeddings, dtype=">f4").reshape(count, dim + 1)
        matrix = blob[:, 1:].astype(np.float32)  # the 4-byte header is one float32 slot
        ids = np.asarray(found.ids, dtype=np.int64)
        owners = np.asarray(found.owners, dtype=np.int64)
        negative = np.asarray(found.negative, dtype=bool)
    else:
        matrix = np.zeros((0, dim), dtype=np.float32)
        ids = owners = np.zeros(0, dtype=np.int64)
        negative = np.zeros(0, dtype=bool)
    return ScopeViews(
        version=int(first.search_version),
        ids=ids[~negative],
        owners=owners[~negative],
        matrix=np.ascontiguousarray(matrix[~negative]),
        negative_owners=owners[negative],
        negatives=np.ascontiguousarray(matrix[negative]),
        concepts={int(row.id): concept_info(row, row.view_count, row.negative_count) for row in concept_rows},
    )


def cluster_views(connection: Connection) -> None:
    """Rewrite the views table in (scope_id, encoder) order again (see migration 0006): Postgres
    appends new rows wherever there is room, so a memory's views added since the last run sit one
    per page. Holds an ACCESS EXCLUSIVE lock on views while it runs (searches
    and writes wait: 30-75 s per million views on 2 cores) and needs free disk for a copy."""
    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")  # a store engine's limit is for requests
    connection.exec_driver_sql("CLUSTER views USING ix_views_scope_id_encoder")
    connection.exec_driver_sql("ANALYZE views")
