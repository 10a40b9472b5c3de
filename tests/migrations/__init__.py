"""Tests of the alembic migrations (migrations/)."""
