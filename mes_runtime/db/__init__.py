"""Persistence: typed ORM models (``models``), async engines for SQLite/PostgreSQL
(``engine``) and alembic migrations (``migrate``). The batch record that writes into these
tables (journal, ``SqlBatchRecorder``) lives in ``mes_runtime.ebr``, above this package."""

from mes_runtime.db.engine import create_engine, session_factory
from mes_runtime.db.migrate import upgrade, upgrade_async

__all__ = ["create_engine", "session_factory", "upgrade", "upgrade_async"]
