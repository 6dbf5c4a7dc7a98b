"""Alembic migrations for memory/'s tables."""
