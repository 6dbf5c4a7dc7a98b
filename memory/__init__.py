"""The memory store: scopes, concepts, views (crop + embedding) and audit on Postgres + pgvector,
with exact per-scope vector search and an embedded Postgres for the default install."""
