"""The memory store: scopes, concepts, views (crop + embedding) and audit on Postgres + pgvector,
with exact per-scope vector search and an embedded Postgres for the default install. MemoryStore
(memory/store.py) is its API; memory/policy.py its one rule book; memory/repositories/ its SQL,
imported by nothing outside memory/. Bottom layer: imports nothing of rapbot (docs/architecture.md)."""
