"""A shard as a base file and a patch: the rows a debit retry changed, laid over the full file
of the period's first debit. Pure table functions; `settlement.store` reads and writes them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mutualaid.errors import IntegrityError


def apply_patch(base: pa.Table, patch: pa.Table, *, source: str) -> pa.Table:
    """`base` with each row of `patch` in place of the base row of the same member.

    Both are in member-id order and a patch never adds a member (retries only change accounts
    and statuses), so the result keeps the base's rows and order: one `take`, no sort. The
    same function folds a retry's changed rows into the patch before it (`source` names the
    file for the error when a patched member is not in the base)."""
    if patch.num_rows == 0:
        return base
    base_ids = base["member_id"].to_numpy()
    patch_ids = patch["member_id"].to_numpy()
    at = np.searchsorted(base_ids, patch_ids)
    inside = at < len(base_ids)
    if not inside.all() or not np.array_equal(base_ids[at], patch_ids):
        raise IntegrityError("patch", source, "changes a member its base does not hold")
    rows = np.arange(base.num_rows, dtype=np.int64)
    rows[at] = base.num_rows + np.arange(patch.num_rows, dtype=np.int64)
    both = pa.concat_tables([base, patch.select(base.column_names).cast(base.schema)])
    return both.take(pa.array(rows)).combine_chunks()
