"""The settlement driver end to end on SQLite and PostgreSQL: lock, debit, retries, close."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from infra.db import unit_of_work
from infra.repositories import DebitRunRepository, MemberChangeRepository, PeriodRepository
from mutualaid.errors import (
    ConflictError,
    IntegrityError,
    MutualAidError,
)
from mutualaid.membership import ChangeKind, ExitReason, MemberChange, MemberStatus
from settlement.engine import RunResult, debit, lock_roster, retry
from settlement.members import current_member
from settlement.reconcile_period import reconcile_period
from tests.settlement.conftest import LATER, small_settlement

OCT_7, OCT_14, OCT_21, OCT_28 = (
    date(2026, 10, 7),
    date(2026, 10, 14),
    date(2026, 10, 21),
    date(2026, 10, 28),
)
AID = 30_000_000


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tmp-" not in p.name
    }


def settle_period(ctx, sharing: date, aid: int) -> list[RunResult]:  # type: ignore[no-untyped-def]
    results = [debit(ctx, sharing, aid_fen=aid, now=LATER)]
    results += [retry(ctx, sharing, now=LATER) for _ in range(5)]
    return results


def test_a_period_settles_balances_and_carries_its_surplus(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    locked = lock_roster(ctx, OCT_7, now=LATER)
    assert locked.members > 2_500
    runs = settle_period(ctx, OCT_14, AID)
    first = runs[0]
    assert first.rows == locked.members
    assert first.paid_fen + first.unpaid_fen + first.subsidy_fen == first.share_fen * locked.members
    assert [r.attempt for r in runs] == [0, 1, 2, 3, 4, 5]
    assert runs[-1].period_closed and not runs[-2].period_closed
    assert runs[1].paid_fen > 0  # the late payers' money arrived before the first retry
    with unit_of_work(fresh_db) as session:
        period = PeriodRepository(session).get("chronic", OCT_7)
        assert period is not None and period.report is not None
        report = dict(period.report)
    assert report["collected_fen"] + report["unpaid_fen"] == report["billed_fen"]
    assert report["surplus_out_fen"] == report["collected_fen"] - (
        report["aid_fen"] + report["fee_fen"] - report["surplus_in_fen"]
    )
    assert report["fee_fen"] == AID * 8 // 100
    assert report["removed_members"] > 0
    check = reconcile_period(ctx, OCT_7)
    assert check.balanced, check.problems
    assert check.attempts == 6

    # The next period starts from the removals and carries the surplus or deficit.
    second = lock_roster(ctx, OCT_21, now=LATER)
    assert second.members <= locked.members - report["removed_members"]
    next_debit = debit(ctx, OCT_28, aid_fen=AID, now=LATER)
    need = AID + AID * 8 // 100 - report["surplus_out_fen"]
    assert next_debit.share_fen == -(-need // second.members)


def test_running_a_committed_step_again_changes_nothing(fresh_db: Engine, tmp_path: Path) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    lock_roster(ctx, OCT_7, now=LATER)
    first = debit(ctx, OCT_14, aid_fen=AID, now=LATER)
    before = files_under(tmp_path / "store")
    again = debit(ctx, OCT_14, aid_fen=AID, now=LATER)
    relock = lock_roster(ctx, OCT_7, now=LATER)
    assert again.already_done and relock.already_done
    assert (again.paid_fen, again.unpaid_fen, again.rows) == (
        first.paid_fen,
        first.unpaid_fen,
        first.rows,
    )
    assert files_under(tmp_path / "store") == before
    with pytest.raises(
        ConflictError, match="aid_fen=1: the share of period-chronic-2026-10-07 was fixed"
    ):
        debit(ctx, OCT_14, aid_fen=1, now=LATER)


def test_member_changes_before_the_cutoff_are_folded_and_later_ones_wait(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    store = ctx.store()
    shard_of_1 = store.shard_of(1)
    new_id = 900_000 + (shard_of_1 - 900_000 % store.shards) % store.shards
    with unit_of_work(fresh_db) as session:
        changes = MemberChangeRepository(session)
        changes.queue(
            MemberChange(
                plan_id="chronic",
                member_id=new_id,
                kind=ChangeKind.JOIN,
                effective_on=OCT_7 - timedelta(days=1),
                birth_date=date(1990, 1, 1),
                chronic_groups=(1,),
                payer_id=1,
            ),
            change_key="join-new",
            at=LATER,
        )
        changes.queue(
            MemberChange(
                plan_id="chronic",
                member_id=2,
                kind=ChangeKind.EXIT,
                effective_on=OCT_7 - timedelta(days=1),
                exit_reason=ExitReason.LEFT,
            ),
            change_key="exit-2",
            at=LATER,
        )
        changes.queue(
            MemberChange(
                plan_id="chronic",
                member_id=3,
                kind=ChangeKind.EXIT,
                effective_on=OCT_7,
                exit_reason=ExitReason.LEFT,
            ),
            change_key="exit-3-on-publicity-day",
            at=LATER,
        )
    locked = lock_roster(ctx, OCT_7, now=LATER)
    assert locked.joined == 1 and locked.exited == 1
    found = store.find(new_id)
    assert found is not None and found.payer_id == 1
    left = store.find(2)
    assert left is not None and left.status is MemberStatus.EXITED
    still = store.find(3)
    assert still is not None and still.status is MemberStatus.COVERED
    with unit_of_work(fresh_db) as session:
        pending = MemberChangeRepository(session).pending("chronic")
        assert [c.member_id for _, c in pending] == [3]
        member_3 = current_member(str(tmp_path / "store"), session, "chronic", 3)
        assert member_3 is not None and member_3.status is MemberStatus.EXITED


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda ctx: debit(ctx, date(2026, 10, 15), aid_fen=AID, now=LATER),
            "sharing_date='2026-10-15': is not the 14th or 28th",
        ),
        (lambda ctx: debit(ctx, OCT_14, aid_fen=-5, now=LATER), "aid_fen=-5: must not be negative"),
        (
            lambda ctx: debit(ctx, OCT_14, aid_fen=AID, now=LATER),
            "period-chronic-2026-10-07'?: does not exist",
        ),
        (
            lambda ctx: lock_roster(ctx, date(2026, 10, 8), now=LATER),
            "publicity_date='2026-10-08': is not the 7th or 21st",
        ),
        (lambda ctx: lock_roster(ctx, OCT_7, now=LATER - timedelta(days=400)), "is in the future"),
        (lambda ctx: retry(ctx, OCT_14, now=LATER), "does not exist"),
    ],
)
def test_bad_settlement_input_stops_before_writing(
    fresh_db: Engine,
    tmp_path: Path,
    call,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store", members=300)
    before = files_under(tmp_path / "store")
    with pytest.raises(MutualAidError, match=message):
        call(ctx)
    assert files_under(tmp_path / "store") == before


def test_a_missing_or_truncated_input_shard_is_refused_before_the_run_is_frozen(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store", members=300)
    lock_roster(ctx, OCT_7, now=LATER)
    shard = Path(ctx.store().shard_path("roster-2026-10-07", 1))
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(
        IntegrityError, match=r"shard-00001.parquet'?: is \d+ bytes, its manifest says"
    ):
        debit(ctx, OCT_14, aid_fen=AID, now=LATER)
    with unit_of_work(fresh_db) as session:
        period = PeriodRepository(session).get("chronic", OCT_7)
        assert period is not None
        assert DebitRunRepository(session).runs(period.id) == []
    shard.unlink()
    with pytest.raises(IntegrityError, match="is missing"):
        debit(ctx, OCT_14, aid_fen=AID, now=LATER)


def test_a_snapshot_of_another_plan_is_refused(fresh_db: Engine, tmp_path: Path) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store", members=300)
    lock_roster(ctx, OCT_7, now=LATER)
    manifest = Path(ctx.store().snapshot_dir("roster-2026-10-07")) / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"plan_id": "chronic"', '"plan_id": "major"'))
    with pytest.raises(IntegrityError, match="belongs to plan 'major'"):
        debit(ctx, OCT_14, aid_fen=AID, now=LATER)


def test_two_drivers_racing_on_one_debit_commit_it_once(fresh_db: Engine, tmp_path: Path) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store", members=6_000, shards=4)
    lock_roster(ctx, OCT_7, now=LATER)
    results: list[RunResult] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.append(debit(ctx, OCT_14, aid_fen=AID, now=LATER))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert sorted(r.already_done for r in results) == [False, True]
    assert len({(r.paid_fen, r.unpaid_fen, r.subsidy_fen) for r in results}) == 1
    assert reconcile_period(ctx, OCT_7).balanced


def test_two_plans_settle_side_by_side_each_with_its_own_roster_and_share(
    fresh_db: Engine, tmp_path: Path
) -> None:
    from infra.plans import builtin_plan_sources
    from settlement.engine import Settlement
    from settlement.executor import InlineExecutor
    from settlement.population import PopulationSpec, generate_population

    major = next(s.plan for s in builtin_plan_sources() if s.plan.id == "major")
    chronic = small_settlement(fresh_db, tmp_path / "store", members=2_000)
    generate_population(
        str(tmp_path / "store"),
        major,
        PopulationSpec(members=5_000, shards=2, seed=9, as_of=date(2026, 10, 1)),
    )
    other = Settlement(
        db=fresh_db, store_root=str(tmp_path / "store"), plan=major, executor=InlineExecutor()
    )
    locks = [lock_roster(ctx, OCT_7, now=LATER) for ctx in (chronic, other)]
    runs = [debit(ctx, OCT_14, aid_fen=AID, now=LATER) for ctx in (chronic, other)]
    assert locks[0].members != locks[1].members
    assert runs[0].share_fen == -(-(AID + AID * 8 // 100) // locks[0].members)
    assert runs[1].share_fen == -(-(AID + AID * 8 // 100) // locks[1].members)
    with unit_of_work(fresh_db) as session:
        periods = PeriodRepository(session).list()
        assert [(p.plan_id, p.members) for p in periods] == [
            ("chronic", locks[0].members),
            ("major", locks[1].members),
        ]
    assert reconcile_period(chronic, OCT_7).balanced and reconcile_period(other, OCT_7).balanced
