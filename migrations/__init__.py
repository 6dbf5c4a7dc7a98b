"""Alembic migrations for memory/'s tables. `env.py` reads memory/'s models and settings; a version
imports no live code: it carries a frozen copy of what it computes (docs/architecture.md)."""
