"""The pure hash-chain core: canonical encoding, hashing, incremental verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mes_runtime.ebr.chain import (
    GENESIS_HASH,
    ChainVerifier,
    canonical_encoding,
    encode_entry,
    encode_value,
    entry_hash,
    format_ts,
)

field = st.one_of(st.none(), st.integers(), st.text(max_size=20))
fields = st.lists(field, min_size=1, max_size=6)


@given(fields, fields)
def test_encoding_is_injective(a: list[object], b: list[object]) -> None:
    # Different field lists never encode to the same bytes (no boundary ambiguity).
    if a != b:
        assert canonical_encoding(a) != canonical_encoding(b)
    else:
        assert canonical_encoding(a) == canonical_encoding(b)


def test_encoding_separates_types_and_boundaries() -> None:
    assert canonical_encoding(["ab", "c"]) != canonical_encoding(["a", "bc"])
    assert canonical_encoding([None]) != canonical_encoding(["n"])
    assert canonical_encoding([1]) != canonical_encoding(["1"])
    assert canonical_encoding([""]) != canonical_encoding([None])


def test_encoding_rejects_unhashable_types() -> None:
    with pytest.raises(TypeError):
        canonical_encoding([1.5])
    with pytest.raises(TypeError):
        canonical_encoding([True])


def test_encode_value_is_canonical() -> None:
    assert encode_value({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'
    assert encode_value({"a": [1, "é"], "b": 1}) == encode_value({"b": 1, "a": [1, "é"]})
    assert encode_value(None) is None
    with pytest.raises(ValueError, match="Out of range"):
        encode_value(float("nan"))
    with pytest.raises(TypeError):
        encode_value(object())


def test_format_ts_is_fixed_width_utc() -> None:
    cet = timezone(timedelta(hours=1))
    assert format_ts(datetime(2026, 1, 2, 4, 4, 5, 6, tzinfo=cet)) == "2026-01-02T03:04:05.000006Z"
    assert len(format_ts(datetime(2026, 1, 2, tzinfo=UTC))) == 27
    with pytest.raises(ValueError, match="timezone-aware"):
        format_ts(datetime(2026, 1, 2))


def _chain(n: int) -> list[list[object]]:
    rows: list[list[object]] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        values: dict[str, object] = {
            "seq": seq,
            "ts": f"2026-01-01T00:00:{seq:02d}.000000Z",
            "actor": "op",
            "action": "act",
            "subject": f"s{seq}",
            "batch_id": "B1",
            "old_value": None,
            "new_value": encode_value({"n": seq}),
            "reason": None,
            "prev_hash": prev,
        }
        digest = entry_hash(**values)  # type: ignore[arg-type]
        rows.append([*values.values(), digest])
        prev = digest
    return rows


def test_entry_hash_covers_every_field() -> None:
    row = _chain(1)[0]
    names = ["seq", "ts", "actor", "action", "subject", "batch_id", "old_value", "new_value",
             "reason", "prev_hash"]  # fmt: skip
    base = dict(zip(names, row[:10], strict=True))
    original = entry_hash(**base)  # type: ignore[arg-type]
    for name in names:
        changed = dict(base)
        changed[name] = 2 if name == "seq" else f"{base[name] or ''}x"
        assert entry_hash(**changed) != original, name  # type: ignore[arg-type]


def test_verifier_accepts_a_good_chain_fed_in_chunks() -> None:
    rows = _chain(10)
    verifier = ChainVerifier()
    for start in range(0, 10, 3):
        assert verifier.feed(rows[start : start + 3])
    result = verifier.result()
    assert result.ok
    assert result.entries_checked == 10
    assert verifier.last_hash == rows[-1][10]


@pytest.mark.parametrize("column", range(11))
def test_verifier_names_the_modified_entry(column: int) -> None:
    rows = _chain(8)
    value = rows[5][column]
    rows[5][column] = 99 if column == 0 else f"{value or ''}x"
    result = ChainVerifier()
    result.feed(rows)
    assert not result.result().ok
    assert result.result().first_bad_seq == 6


def test_verifier_names_a_removed_and_a_reordered_entry() -> None:
    rows = _chain(6)
    removed = ChainVerifier()
    removed.feed(rows[:2] + rows[3:])
    assert removed.result().first_bad_seq == 3
    assert "missing" in (removed.result().problem or "")

    swapped = [list(r) for r in rows]
    swapped[2], swapped[3] = swapped[3], swapped[2]
    swapped[2][0], swapped[3][0] = 3, 4
    verifier = ChainVerifier()
    verifier.feed(swapped)
    assert verifier.result().first_bad_seq == 3


def test_missing_tail_is_reported() -> None:
    verifier = ChainVerifier()
    verifier.feed(_chain(4))
    verifier.missing_tail(6)
    result = verifier.result()
    assert (result.ok, result.first_bad_seq, result.entries_checked) == (False, 5, 4)


optional_text = st.one_of(st.none(), st.text(max_size=30))


@given(
    st.integers(min_value=1),
    st.text(max_size=30),
    st.text(max_size=10),
    optional_text,
    optional_text,
    optional_text,
    optional_text,
)
def test_fast_entry_encoding_equals_the_generic_one(
    seq: int,
    ts: str,
    actor: str,
    batch_id: str | None,
    old: str | None,
    new: str | None,
    reason: str | None,
) -> None:
    fields = (seq, ts, actor, "act", "subj", batch_id, old, new, reason, GENESIS_HASH)
    assert encode_entry(fields) == canonical_encoding(fields)


def test_fast_entry_encoding_falls_back_on_odd_types() -> None:
    with pytest.raises(TypeError):
        encode_entry((1, "ts", "a", "b", "c", None, None, None, 2.5, GENESIS_HASH))
    assert encode_entry(("1", "ts", "a", "b", "c", None, None, None, None, "p")) == (
        canonical_encoding(("1", "ts", "a", "b", "c", None, None, None, None, "p"))
    )
