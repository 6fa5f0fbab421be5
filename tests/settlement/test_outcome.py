"""A step's outcome read back from the committed state (SQL and the store) is what the local
run returned when it committed the step: what cluster mode reports instead of a job's log."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from infra.db import reading
from infra.repositories import DebitRunRepository, PeriodRepository
from mutualaid.errors import IntegrityError
from settlement.engine import debit, lock_roster, retry
from settlement.outcome import lock_outcome, run_outcome
from settlement.steps import lock_step, retry_step
from tests.settlement.conftest import LATER, small_settlement

PUBLICITY = date(2026, 10, 7)
SHARING = date(2026, 10, 14)


def test_each_committed_step_reads_back_as_the_local_run_returned_it(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    assert lock_outcome(ctx, PUBLICITY) is None
    locked = lock_roster(ctx, PUBLICITY, now=LATER)
    assert lock_outcome(ctx, PUBLICITY) == locked
    again = lock_outcome(ctx, PUBLICITY, already_done=True)
    assert again == dataclasses.replace(locked, already_done=True)

    assert run_outcome(ctx, PUBLICITY, 0) is None
    debited = debit(ctx, SHARING, aid_fen=3_000_000, now=LATER)
    assert run_outcome(ctx, PUBLICITY, 0) == debited
    with reading(fresh_db) as session:
        period = PeriodRepository(session).get("chronic", PUBLICITY)
        assert period is not None
        run = DebitRunRepository(session).get(period.id, 0)
        assert run is not None and run.state == "committed"
        assert (debited.paid_fen, debited.unpaid_fen) == (run.paid_fen, run.unpaid_fen)

    last = ctx.plan.sharing.debit_retry_days
    for attempt in range(1, last + 1):
        assert run_outcome(ctx, PUBLICITY, attempt) is None
        retried = retry(ctx, SHARING, now=LATER)
        assert retried.attempt == attempt
        assert run_outcome(ctx, PUBLICITY, attempt) == retried
    assert retried.period_closed and retried.removed  # the small population has non-payers


def test_a_committed_roster_whose_marker_does_not_match_its_shard_is_an_integrity_error(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    lock_roster(ctx, PUBLICITY, now=LATER)
    marker = tmp_path / "store" / "chronic" / "snapshots" / "roster-2026-10-07" / "shard-00001.done"
    document = json.loads(marker.read_bytes())
    document["file"]["sha256"] = "0" * 64
    marker.write_text(json.dumps(document))
    with pytest.raises(IntegrityError, match=r"shard-00001\.done"):
        lock_outcome(ctx, PUBLICITY)


def test_without_a_job_server_a_step_runs_here_as_the_engine_runs_it(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    ran = lock_step(ctx, PUBLICITY, now=LATER, jobs=None)
    assert ran.job is None and not ran.result.already_done
    assert lock_step(ctx, PUBLICITY, now=LATER, jobs=None).result.already_done
    debit(ctx, SHARING, aid_fen=3_000_000, now=LATER)
    first = retry_step(ctx, SHARING, now=LATER, jobs=None)
    assert first.job is None and first.result == run_outcome(ctx, PUBLICITY, 1)
