"""Persistence: typed ORM models (``models``), async engines for SQLite/PostgreSQL
(``engine``), alembic migrations (``migrate``), and ``recorder.SqlBatchRecorder``, the SQL
implementation of the engine's ``BatchRecorder`` port (import it from its module: it depends
on ``mes_runtime.ebr``, which depends on the models here)."""

from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.migrate import upgrade, upgrade_async

__all__ = ["create_engine", "session_factory", "upgrade", "upgrade_async"]
