"""The runtime's one clock: every timestamp in Holon is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """Timezone-aware UTC now; every timestamp in Holon is UTC."""
    return datetime.now(UTC)
