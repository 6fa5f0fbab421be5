"""The frozen plans and done markers read back exactly as earlier runs wrote them: a resumed
step must write the same bytes, so each document round-trips byte for byte."""

from __future__ import annotations

import json
from datetime import date

import pytest

from mutualaid.errors import IntegrityError
from settlement.run_plan import (
    DebitShardOutcome,
    LockPlan,
    LockShardOutcome,
    RunPlan,
    decode,
    encode,
)

# Documents as the engine wrote them before plans and markers were typed.
LOCK_PLAN = (
    b'{"change_ids": [1, 2], "exit_age_years": 60, "frozen_at": "2026-11-21T00:00:00+08:00", '
    b'"opening_funds_fen": 10000, "parent": "population-n900-seed7", "period": "2026-11-21", '
    b'"plan_id": "chronic", "rules_version": "chronic-2020.1", "snapshot": "roster-2026-11-21"}'
)
LOCK_MARKER = (
    b'{"checksums": {"snapshots/roster-2026-11-21/shard-00001.parquet": "a651bd"}, '
    b'"file": {"file": "shard-00001.parquet", "rows": 300, "sha256": "a651bd", "shard": 1, '
    b'"size": 8810}, "shard": 1, "stats": {"aged_out": 1, "exited": 0, "joined": 0, '
    b'"on_roster": 299, "rows": 300}}'
)
DEBIT_MARKER = (
    b'{"checksums": {"ledgers/2026-11-21/attempt-5/shard-00002.parquet": "554f46", '
    b'"snapshots/debit-2026-11-21-a5/shard-00002.parquet": "559db9"}, "file": {"file": '
    b'"shard-00002.parquet", "rows": 301, "sha256": "559db9", "shard": 2, "size": 8919}, '
    b'"ledger": {"path": "ledgers/2026-11-21/attempt-5/shard-00002.parquet", "rows": 65, '
    b'"sha256": "554f46"}, "shard": 2, "stats": {"charge_fen": 764703, "paid_fen": 0, '
    b'"removed": 65, "rows": 65, "subsidy_fen": 0, "unpaid_fen": 764703}}'
)
RUN_PLAN = {
    "plan_id": "chronic",
    "period": "2026-11-21",
    "sharing_date": "2026-11-28",
    "attempt": 5,
    "share_fen": 18021,
    "members": 899,
    "annual_cap_fen": 18800,
    "year": 2026,
    "rules_version": "chronic-2020.1",
    "input_snapshot": "debit-2026-11-21-a4",
    "output_snapshot": "debit-2026-11-21-a5",
    "shards": 3,
    "remove_unpaid_on": "2026-12-03",
    "created_at": "2026-12-03T00:00:00+08:00",
}


@pytest.mark.parametrize(
    ("document", "kind"),
    [(LOCK_PLAN, LockPlan), (LOCK_MARKER, LockShardOutcome), (DEBIT_MARKER, DebitShardOutcome)],
)
def test_a_stored_document_reads_back_and_writes_the_same_bytes(
    document: bytes, kind: type[LockPlan] | type[LockShardOutcome] | type[DebitShardOutcome]
) -> None:
    parsed = kind.from_json(decode(document, source="f"), source="f")
    assert encode(parsed.to_json()) == document


def test_a_frozen_run_plan_reads_back_as_the_same_sql_document() -> None:
    plan = RunPlan.from_json(RUN_PLAN, source="run")
    assert (plan.attempt, plan.remove_unpaid_on) == (5, date(2026, 12, 3))
    assert plan.to_json() == RUN_PLAN
    first = RunPlan.from_json({**RUN_PLAN, "remove_unpaid_on": None}, source="run")
    assert first.remove_unpaid_on is None and first.to_json()["remove_unpaid_on"] is None


@pytest.mark.parametrize(
    "document",
    [
        b"{not json",
        b"[1, 2]",
        LOCK_MARKER.replace(b'"on_roster": 299, ', b""),
        LOCK_MARKER.replace(b'"rows": 300}}', b'"rows": "300"}}'),
    ],
)
def test_a_corrupt_marker_is_a_data_integrity_error(document: bytes) -> None:
    with pytest.raises(IntegrityError, match=r"shard-00001\.done"):
        LockShardOutcome.from_json(
            decode(document, source="shard-00001.done"), source="shard-00001.done"
        )


def test_a_lock_plan_with_a_bad_day_is_a_data_integrity_error() -> None:
    broken = json.loads(LOCK_PLAN) | {"period": "2026-13-01"}
    with pytest.raises(IntegrityError, match="'period'"):
        LockPlan.from_json(broken, source="plan.json")
