"""The debit's family order from one packed-key argsort is the four-key lexsort it replaced,
and the kernel skips its member-id sort only when that sort would not move a row.

Random shards: sorted unique member ids, families whose payer may sit before or after its
members, join days spread from one day to centuries (so the packed key's day field is narrow,
wide and too wide, which falls back to the lexsort), and empty shards.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.kernels import by_member_id, family_order


@st.composite
def shards(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(0, 60))
    ids = np.array(
        sorted(draw(st.sets(st.integers(1, 2**62), min_size=n, max_size=n))), dtype=np.int64
    )
    payer_row = np.arange(n, dtype=np.int64)
    for row in range(n):
        payer = draw(st.integers(0, n - 1))
        if payer_row[payer] == payer:  # attach only to a member who pays for themselves
            payer_row[row] = payer
    spread = draw(st.sampled_from([0, 1, 30, 40_000, 2**40]))
    first = draw(st.integers(-(2**20), 2**20))
    joined = np.array([first + draw(st.integers(0, spread)) for _ in range(n)], dtype=np.int64)
    return ids, payer_row, joined


@settings(max_examples=400, deadline=None)
@given(shards())
def test_the_packed_key_order_is_the_lexsort_order(
    shard: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    ids, payer_row, joined = shard
    is_payer = ids == ids[payer_row]
    expected = np.lexsort((ids, joined, ~is_payer, payer_row))
    assert np.array_equal(family_order(payer_row, is_payer, joined), expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40), st.integers(1, 5))
def test_rows_are_in_member_id_order_whether_or_not_the_sort_was_skipped(
    ids: list[int], chunks: int
) -> None:
    positions = list(range(len(ids)))
    cut = max(1, len(ids) // chunks)
    table = pa.Table.from_batches(
        [
            pa.record_batch(
                {
                    "member_id": pa.array(ids[i : i + cut], pa.int64()),
                    "position": pa.array(positions[i : i + cut], pa.int64()),
                }
            )
            for i in range(0, len(ids), cut)
        ],
        schema=pa.schema([("member_id", pa.int64()), ("position", pa.int64())]),
    )
    assert by_member_id(table).equals(table.sort_by("member_id"))
