"""The journal's hash chain: canonical encoding and hashing, pure and I/O-free.

Each entry's hash is ``sha256(encode(seq, ts, actor, action, subject, batch_id, old_value,
new_value, reason, prev_hash))`` and ``prev_hash`` is the previous entry's hash (64 zeros for
the first). Changing, removing or reordering any entry therefore breaks the chain at exactly
that entry, and :class:`ChainVerifier` names it.

The encoding is a tagged, length-prefixed concatenation rather than JSON: it is unambiguous
(no value can be confused with a field boundary), needs no escaping, and is a few string
operations per field, which keeps verification well above 100,000 entries per second.
Values (old/new) are hashed exactly as stored: the canonical JSON *text*, so that any change
to the stored bytes, even one that would parse to the same value, is detected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "GENESIS_HASH",
    "ChainVerifier",
    "EntryFields",
    "VerifyResult",
    "canonical_encoding",
    "encode_entry",
    "encode_value",
    "entry_hash",
    "format_ts",
]

GENESIS_HASH = "0" * 64

#: The columns of one stored entry, in hashing order, followed by its stored hash:
#: (seq, ts, actor, action, subject, batch_id, old_value, new_value, reason, prev_hash, hash)
EntryFields = Sequence[object]


def format_ts(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC with microseconds, e.g. ``2026-01-02T03:04:05.000006Z``."""
    if moment.tzinfo is None:
        raise ValueError("journal timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_value(value: object) -> str | None:
    """Canonical JSON text of an old/new value (``None`` stays SQL NULL).

    Sorted keys, no whitespace, UTF-8 kept as is: equal values always give equal text.
    Raises ``TypeError`` for values that are not JSON (say what you record, explicitly).
    """
    if value is None:
        return None
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _field(value: object) -> str:
    if value is None:
        return "n"
    if isinstance(value, bool):  # bool is an int; keep it distinct
        raise TypeError("journal fields are str, int or None")
    if isinstance(value, int):
        return f"i{value};"
    if isinstance(value, str):
        return f"s{len(value)}:{value}"
    raise TypeError(f"journal field of type {type(value).__name__} cannot be hashed")


def canonical_encoding(fields: Iterable[object]) -> bytes:
    """Unambiguous byte encoding of the hashed fields (everything but the hash itself)."""
    return "".join(map(_field, fields)).encode("utf-8", "surrogatepass")


def encode_entry(fields: Sequence[object]) -> bytes:
    """:func:`canonical_encoding` of the ten hashed fields, specialised for their layout
    (about 3x faster; verification spends most of its time here). Falls back to the generic
    encoder, which raises ``TypeError``, when a stored value has an unexpected type."""
    seq, ts, actor, action, subject, batch_id, old, new, reason, prev = fields
    str_ = str
    if (
        type(seq) is int
        and type(ts) is str_
        and type(actor) is str_
        and type(action) is str_
        and type(subject) is str_
        and type(prev) is str_
        and (batch_id is None or type(batch_id) is str_)
        and (old is None or type(old) is str_)
        and (new is None or type(new) is str_)
        and (reason is None or type(reason) is str_)
    ):
        b = "n" if batch_id is None else f"s{len(batch_id)}:{batch_id}"
        o = "n" if old is None else f"s{len(old)}:{old}"
        w = "n" if new is None else f"s{len(new)}:{new}"
        r = "n" if reason is None else f"s{len(reason)}:{reason}"
        text = (
            f"i{seq};s{len(ts)}:{ts}s{len(actor)}:{actor}s{len(action)}:{action}"
            f"s{len(subject)}:{subject}{b}{o}{w}{r}s{len(prev)}:{prev}"
        )
        return text.encode("utf-8", "surrogatepass")
    return canonical_encoding(fields)


def entry_hash(
    *,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str,
    batch_id: str | None,
    old_value: str | None,
    new_value: str | None,
    reason: str | None,
    prev_hash: str,
) -> str:
    """The sha256 (hex) that chains one entry to its predecessor."""
    fields = (seq, ts, actor, action, subject, batch_id, old_value, new_value, reason, prev_hash)
    return hashlib.sha256(encode_entry(fields)).hexdigest()


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of verifying the journal: the FIRST bad entry, if any, and why."""

    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


class ChainVerifier:
    """Incremental verification: feed stored rows in ``seq`` order, in as many chunks as
    convenient, then read :meth:`result`. Stops at the first problem."""

    __slots__ = ("_checked", "_expected_seq", "_first_bad", "_prev_hash", "_problem")

    def __init__(self) -> None:
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._checked = 0
        self._first_bad: int | None = None
        self._problem: str | None = None

    @property
    def failed(self) -> bool:
        return self._problem is not None

    @property
    def last_seq(self) -> int:
        return self._expected_seq - 1

    @property
    def last_hash(self) -> str:
        return self._prev_hash

    def feed(self, rows: Iterable[EntryFields]) -> bool:
        """Check ``rows``; return False as soon as one is bad (the rest are ignored)."""
        if self._problem is not None:
            return False
        sha256 = hashlib.sha256
        expected, prev = self._expected_seq, self._prev_hash
        checked = self._checked
        try:
            for row in rows:
                seq = row[0]
                if seq != expected:
                    if isinstance(seq, int) and seq > expected:
                        return self._fail(
                            expected, checked, f"entry {expected} is missing (next is {seq})"
                        )
                    return self._fail(expected, checked, f"entry {expected} has seq {seq!r}")
                if row[9] != prev:
                    return self._fail(
                        seq, checked, f"entry {seq} does not link to entry {seq - 1} (prev_hash)"
                    )
                try:
                    digest = sha256(encode_entry(row[:10])).hexdigest()
                except TypeError as exc:
                    return self._fail(seq, checked, f"entry {seq} is malformed: {exc}")
                if digest != row[10]:
                    return self._fail(
                        seq, checked, f"entry {seq} was modified (hash does not match content)"
                    )
                prev = digest
                expected += 1
                checked += 1
        finally:
            if self._problem is None:
                self._expected_seq, self._prev_hash, self._checked = expected, prev, checked
        return True

    def missing_tail(self, expected_last_seq: int) -> None:
        """Flag entries known to exist (e.g. by the writer) that are no longer stored."""
        if self._problem is None and self.last_seq < expected_last_seq:
            self._fail(
                self.last_seq + 1,
                self._checked,
                f"entries {self.last_seq + 1}..{expected_last_seq} were removed from the end",
            )

    def _fail(self, seq: int, checked: int, problem: str) -> bool:
        self._first_bad, self._problem, self._checked = seq, problem, checked
        return False

    def result(self) -> VerifyResult:
        return VerifyResult(
            ok=self._problem is None,
            entries_checked=self._checked,
            first_bad_seq=self._first_bad,
            problem=self._problem,
        )
