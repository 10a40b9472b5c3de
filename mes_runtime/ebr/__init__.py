"""Electronic batch record: the append-only, hash-chained journal.

``chain`` is the pure hashing core; ``journal`` writes and verifies it in the database;
``recorder`` (``SqlBatchRecorder``) is the engine's ``BatchRecorder`` port over the same
database: element states, process values and exceptions, each with its journal entry.
"""

from mes_runtime.ebr.chain import GENESIS_HASH, VerifyResult, encode_value, entry_hash
from mes_runtime.ebr.journal import Journal, StoredEntry, verify_journal

__all__ = [
    "GENESIS_HASH",
    "Journal",
    "StoredEntry",
    "VerifyResult",
    "encode_value",
    "entry_hash",
    "verify_journal",
]
