"""Alembic migrations of both engines, and the registry of every table they manage."""
