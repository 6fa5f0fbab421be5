"""The money path in every order of events: no fork, waits instead of forks, refusals and
re-runs that write nothing, immutable committed files, resumes that are byte-identical."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from infra.db import unit_of_work
from infra.repositories import DebitRunRepository, PeriodRepository
from mutualaid.errors import (
    ConflictError,
    InputError,
    IntegrityError,
    NotYetError,
    RefusedError,
)
from settlement import chain as chain_module
from settlement.commit import commit_attempt
from settlement.engine import Settlement, cancel_period, debit, lock_roster, retry
from settlement.executor import InlineExecutor
from settlement.reconcile_period import reconcile_period
from settlement.sharing import share_of
from tests.settlement.chain_support import sql_rows, store_bytes, store_tree
from tests.settlement.conftest import LATER, small_settlement

DEC_7, DEC_21, JAN_7 = date(2026, 12, 7), date(2026, 12, 21), date(2027, 1, 7)
NOV_21 = date(2026, 11, 21)
AID = 2_000_000_00  # 2 million yuan over ~3,000 members: the annual cap binds by December


def sharing(day: date) -> date:
    return day + timedelta(days=7)


def close_period(ctx: Settlement, day: date, aid: int = AID) -> None:
    debit(ctx, sharing(day), aid_fen=aid, now=LATER)
    for _ in range(5):
        retry(ctx, sharing(day), now=LATER)


def unchanged(ctx: Settlement, root: Path) -> tuple[Any, Any]:
    return sql_rows(ctx.db), store_tree(root)


def test_a_lock_while_the_previous_period_is_in_its_retries_waits_and_writes_nothing(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root)
    lock_roster(ctx, DEC_7, now=LATER)
    debit(ctx, sharing(DEC_7), aid_fen=AID, now=LATER)
    retry(ctx, sharing(DEC_7), now=LATER)
    before = unchanged(ctx, root)
    with pytest.raises(NotYetError, match="waits for period-chronic-2026-12-07") as waiting:
        lock_roster(ctx, DEC_21, now=LATER)
    assert waiting.value.waiting_for == "period-chronic-2026-12-07"
    assert unchanged(ctx, root) == before
    for _ in range(4):
        retry(ctx, sharing(DEC_7), now=LATER)
    locked = lock_roster(ctx, DEC_21, now=LATER)
    assert ctx.store().manifest(locked.snapshot).parent == "debit-2026-12-07-a5"
    close_period(ctx, DEC_21)
    lock_roster(ctx, JAN_7, now=LATER)
    close_period(ctx, JAN_7)
    for day in (DEC_7, DEC_21, JAN_7):
        check = reconcile_period(ctx, day)
        assert check.balanced, check.problems


def test_reconcile_finds_a_forked_roster_and_the_members_it_overcharges(
    fresh_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defect of the old engine, made again on purpose: the 12-21 roster built on the
    12-07 roster. Reconcile must say unbalanced: a fork, removed members charged again, and
    members over the annual cap."""
    ctx = small_settlement(fresh_db, tmp_path / "store")
    lock_roster(ctx, NOV_21, now=LATER)
    close_period(ctx, NOV_21)
    lock_roster(ctx, DEC_7, now=LATER)
    close_period(ctx, DEC_7)
    monkeypatch.setattr(
        chain_module, "chain_parent", lambda *args: "roster-2026-12-07", raising=True
    )
    lock_roster(ctx, DEC_21, now=LATER)
    monkeypatch.undo()
    close_period(ctx, DEC_21)
    check = reconcile_period(ctx, DEC_21)
    assert not check.balanced
    text = " ".join(check.problems)
    assert "is built on roster-2026-12-07, not on debit-2026-12-07-a5" in text


def test_the_yearly_check_finds_removed_members_charged_again_and_the_cap_exceeded(
    fresh_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = small_settlement(fresh_db, tmp_path / "store")
    lock_roster(ctx, DEC_7, now=LATER)
    close_period(ctx, DEC_7)
    monkeypatch.setattr(chain_module, "chain_parent", lambda *args: "roster-2026-12-07")
    lock_roster(ctx, DEC_21, now=LATER)
    monkeypatch.undo()
    close_period(ctx, DEC_21)
    problems = engine_yearly(ctx, DEC_21)
    assert any("removed for non-payment are charged again" in p for p in problems), problems
    assert any("over the annual cap 18800" in p for p in problems), problems


def engine_yearly(ctx: Settlement, day: date) -> list[str]:
    from settlement.reconcile_period import _yearly_problems

    return _yearly_problems(ctx, day)


def test_a_lock_of_an_earlier_day_is_refused_and_writes_nothing(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    close_period(ctx, DEC_7, aid=1_000_000)
    before = unchanged(ctx, root)
    with pytest.raises(RefusedError, match="is before the plan's latest period"):
        lock_roster(ctx, NOV_21, now=LATER)
    assert unchanged(ctx, root) == before
    # The next legitimate steps are not blocked by anything the refusal left.
    lock_roster(ctx, DEC_21, now=LATER)
    debit(ctx, sharing(DEC_21), aid_fen=1_000_000, now=LATER)


@pytest.mark.parametrize(
    "damage", ["corrupt manifest", "missing shard", "altered shard", "flipped byte"]
)
def test_a_lock_on_a_damaged_store_is_refused_before_the_period_opens(
    fresh_db: Engine, tmp_path: Path, damage: str
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    head = ctx.store().head()
    assert head is not None
    folder = Path(ctx.store().snapshot_dir(head))
    if damage == "corrupt manifest":
        (folder / "manifest.json").write_text("{not json")
    elif damage == "missing shard":
        (folder / "shard-00001.parquet").unlink()
    elif damage == "flipped byte":  # same size: only the checksum can tell
        shard = folder / "shard-00001.parquet"
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))
    else:
        shard = folder / "shard-00001.parquet"
        shard.write_bytes(shard.read_bytes() + b"tail")
    before = unchanged(ctx, root)
    with pytest.raises(IntegrityError):
        lock_roster(ctx, DEC_7, now=LATER)
    assert unchanged(ctx, root) == before
    with unit_of_work(fresh_db) as session:
        assert PeriodRepository(session).list() == []


@pytest.mark.parametrize(
    ("aid", "message"),
    [
        (2**63, "must be below 2"),
        (2**63 - 1, "beyond 64-bit fen"),
    ],
)
def test_an_aid_beyond_64_bit_money_is_refused_before_the_share_is_fixed(
    fresh_db: Engine, tmp_path: Path, aid: int, message: str
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    before = unchanged(ctx, root)
    with pytest.raises(InputError, match=message):
        debit(ctx, sharing(DEC_7), aid_fen=aid, now=LATER)
    assert unchanged(ctx, root) == before


def test_a_debit_on_a_damaged_roster_fixes_no_share_and_freezes_no_run(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    manifest = Path(ctx.store().snapshot_dir("roster-2026-12-07")) / "manifest.json"
    manifest.write_text(manifest.read_text()[:-20])
    before = unchanged(ctx, root)
    with pytest.raises(IntegrityError, match="is corrupt"):
        debit(ctx, sharing(DEC_7), aid_fen=AID, now=LATER)
    assert unchanged(ctx, root) == before
    with unit_of_work(fresh_db) as session:
        period = PeriodRepository(session).get("chronic", DEC_7)
        assert period is not None and period.share_fen is None
        assert DebitRunRepository(session).runs(period.id) == []


def test_a_wrong_period_is_cancelled_and_the_chain_goes_on_from_the_one_before(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    close_period(ctx, DEC_7, aid=1_000_000)
    lock_roster(ctx, DEC_21, now=LATER)
    with pytest.raises(InputError, match="reason"):
        cancel_period(ctx, DEC_21, reason=" ", now=LATER)
    cancelled = cancel_period(ctx, DEC_21, reason="locked by mistake", now=LATER)
    assert cancelled.roster_removed and not cancelled.already_done
    assert ctx.store().head() == "debit-2026-12-07-a5"
    with pytest.raises(RefusedError, match="was cancelled"):
        debit(ctx, sharing(DEC_21), aid_fen=1_000_000, now=LATER)
    before = unchanged(ctx, root)
    assert cancel_period(ctx, DEC_21, reason="again", now=LATER).already_done
    assert unchanged(ctx, root) == before
    locked = lock_roster(ctx, JAN_7, now=LATER)
    assert ctx.store().manifest(locked.snapshot).parent == "debit-2026-12-07-a5"
    debit(ctx, sharing(JAN_7), aid_fen=1_000_000, now=LATER)
    with pytest.raises(RefusedError, match="money may have moved"):
        cancel_period(ctx, JAN_7, reason="too late", now=LATER)


def test_a_plan_started_on_the_wrong_day_is_cancelled_and_started_a_day_earlier(
    fresh_db: Engine, tmp_path: Path
) -> None:
    """The first period locked on the wrong day, cancelled, and the plan started on the day
    before it: the cancelled roster stays for the record, off the chain, and reconciling
    either period finds nothing wrong (found by the chain property test)."""
    ctx = small_settlement(fresh_db, tmp_path / "store", members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    cancel_period(ctx, DEC_7, reason="the plan starts on 21 November", now=LATER)
    locked = lock_roster(ctx, NOV_21, now=LATER)
    assert (
        ctx.store().manifest(locked.snapshot).parent
        == ctx.store().manifest("roster-2026-12-07").parent
    )  # both on the population
    assert reconcile_period(ctx, DEC_7).problems == []
    assert reconcile_period(ctx, NOV_21).problems == []


def test_a_rerun_of_every_committed_step_changes_no_row_and_no_file(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    debit(ctx, sharing(DEC_7), aid_fen=AID, now=LATER)
    before = unchanged(ctx, root)
    assert debit(ctx, sharing(DEC_7), aid_fen=AID, now=LATER).already_done
    assert lock_roster(ctx, DEC_7, now=LATER).already_done
    assert unchanged(ctx, root) == before
    for _ in range(5):
        retry(ctx, sharing(DEC_7), now=LATER)
    before = unchanged(ctx, root)
    with unit_of_work(fresh_db) as session:
        period = PeriodRepository(session).get("chronic", DEC_7)
        assert period is not None and period.state == "closed"
    assert debit(ctx, sharing(DEC_7), aid_fen=AID, now=LATER).already_done
    for attempt in range(1, 6):
        assert retry(ctx, sharing(DEC_7), now=LATER, attempt=attempt).already_done
    assert retry(ctx, sharing(DEC_7), now=LATER).already_done
    assert lock_roster(ctx, DEC_7, now=LATER).already_done
    with pytest.raises(ConflictError):
        debit(ctx, sharing(DEC_7), aid_fen=AID + 1, now=LATER)
    assert unchanged(ctx, root) == before


def test_a_losing_driver_never_rewrites_a_committed_snapshot(
    fresh_db: Engine, tmp_path: Path
) -> None:
    """What the loser of a race does after the winner committed: it had passed every check,
    so it runs the same attempt again. Nothing of the committed snapshot may change."""
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    won = debit(ctx, sharing(DEC_7), aid_fen=AID, now=LATER)
    with unit_of_work(fresh_db) as session:
        period = PeriodRepository(session).get("chronic", DEC_7)
        assert period is not None
        share = share_of(period)
    before = store_tree(root)
    lost = commit_attempt(ctx, DEC_7, attempt=0, share=share, now=LATER + timedelta(hours=3))
    assert lost.already_done and (lost.paid_fen, lost.unpaid_fen) == (won.paid_fen, won.unpaid_fen)
    after = store_tree(root)
    assert {k: v for k, v in after.items() if "/staging/" not in f"/{k}"} == before


def test_a_committed_file_with_other_bytes_is_a_data_integrity_error(tmp_path: Path) -> None:
    from tests.settlement.test_store import populated

    store = populated(tmp_path, list(range(1, 11)))
    path = f"{store.snapshot_dir('gen-1')}/note.json"
    store.write_once(path, b"one", step="gen-1")
    store.write_once(path, b"one", step="gen-1")
    with pytest.raises(IntegrityError, match="already exists with other contents"):
        store.write_once(path, b"two", step="gen-1")
    assert Path(path).read_bytes() == b"one"


class Killed(BaseException):
    """A driver killed at this point (BaseException: nothing in the engine catches it)."""


class KillingExecutor(InlineExecutor):
    def __init__(self, after: int) -> None:
        self.left = after

    def map(self, task, calls, *, on_done=None):  # type: ignore[no-untyped-def]
        results = []
        for args in calls:
            if self.left == 0:
                raise Killed
            self.left -= 1
            results.append(task(*args))
        return results


@pytest.mark.parametrize("kill_after_tasks", [0, 1, 3, 5])
@pytest.mark.parametrize("offset_hours", [0, 30])
def test_a_resumed_run_writes_the_same_bytes_as_a_clean_run_whatever_its_as_of(
    fresh_db: Engine, tmp_path: Path, kill_after_tasks: int, offset_hours: int
) -> None:
    clean_root, killed_root = tmp_path / "clean", tmp_path / "killed"
    clean = small_settlement(fresh_db, clean_root, members=500)
    lock_roster(clean, DEC_7, now=datetime(2026, 12, 7, 0, 5, tzinfo=UTC))
    debit(clean, sharing(DEC_7), aid_fen=AID, now=datetime(2026, 12, 14, tzinfo=UTC))
    expected = store_bytes(clean_root)

    # The same population and the same steps in a second deployment, killed and resumed late.
    second = tmp_path / "second"
    second.mkdir()
    from infra.db import make_engine, upgrade
    from infra.plans import builtin_plan_sources
    from infra.repositories import PlanRepository

    other_db = make_engine(f"sqlite:///{second / 'db.sqlite'}")
    upgrade(other_db)
    with unit_of_work(other_db) as session:
        for source in builtin_plan_sources():
            PlanRepository(session).record(source, at=LATER)
    killed = small_settlement(other_db, killed_root, members=500)
    late = timedelta(hours=offset_hours)
    dying = Settlement(
        db=other_db,
        store_root=killed.store_root,
        plan=killed.plan,
        executor=KillingExecutor(min(kill_after_tasks, 2)),  # the lock has 3 shard tasks
    )
    with pytest.raises(Killed):
        lock_roster(dying, DEC_7, now=datetime(2026, 12, 7, 0, 5, tzinfo=UTC) + late)
    lock_roster(killed, DEC_7, now=datetime(2026, 12, 8, tzinfo=UTC) + late)
    dying = Settlement(
        db=other_db,
        store_root=killed.store_root,
        plan=killed.plan,
        executor=KillingExecutor(kill_after_tasks),
    )
    with pytest.raises(Killed):
        debit(dying, sharing(DEC_7), aid_fen=AID, now=datetime(2026, 12, 14, 9, tzinfo=UTC))
    # Debris a killed writer of an older version left beside a real file.
    debris = Path(killed.store().snapshot_dir("debit-2026-12-07-a0")) / "x.parquet.tmp-dead"
    debris.parent.mkdir(parents=True, exist_ok=True)
    debris.write_bytes(b"half a file")
    debit(killed, sharing(DEC_7), aid_fen=AID, now=datetime(2026, 12, 15, tzinfo=UTC) + late)
    assert not debris.exists()
    assert store_bytes(killed_root) == expected
    other_db.dispose()
    shutil.rmtree(second)


def test_a_lock_never_skips_a_publicity_day_that_has_not_run(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, NOV_21, now=LATER)
    close_period(ctx, NOV_21, aid=1_000_000)
    before = unchanged(ctx, root)
    with pytest.raises(NotYetError, match="waits for period-chronic-2026-12-07 \\(not started\\)"):
        lock_roster(ctx, DEC_21, now=LATER)
    assert unchanged(ctx, root) == before
    # Skipping the day on purpose is an operator's explicit, recorded act.
    skipped = cancel_period(ctx, DEC_7, reason="no period this day", now=LATER)
    assert not skipped.roster_removed and not skipped.already_done
    locked = lock_roster(ctx, DEC_21, now=LATER)
    assert ctx.store().manifest(locked.snapshot).parent == "debit-2026-11-21-a5"


def test_a_lock_racing_the_lock_of_an_earlier_day_waits_instead_of_forking(
    fresh_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both locks pass their checks on an empty chain; the earlier day opens its period while
    the later one verifies its input. The later one must find the chain moved (it now waits
    for the earlier day) and write nothing, never build a second roster on the population."""
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    verify = chain_module.verify_snapshot

    def meanwhile(context: Settlement, snapshot: str) -> None:
        monkeypatch.setattr(chain_module, "verify_snapshot", verify)
        lock_roster(ctx, DEC_7, now=LATER)
        verify(context, snapshot)

    monkeypatch.setattr(chain_module, "verify_snapshot", meanwhile)
    with pytest.raises((NotYetError, ConflictError)):
        lock_roster(ctx, DEC_21, now=LATER)
    with unit_of_work(fresh_db) as session:
        assert [p.publicity_date for p in PeriodRepository(session).list()] == [DEC_7]
    assert not ctx.store().has_manifest("roster-2026-12-21")


def test_a_period_whose_list_is_published_cannot_be_cancelled(
    fresh_db: Engine, tmp_path: Path
) -> None:
    """Its cases are before the public (and told they are publicised): cancelling the period
    would strand them, so it runs on."""
    from infra.repositories import ClaimRepository, PublicityEntry, PublicityRepository
    from tests.infra.test_repositories import new_claim

    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    lock_roster(ctx, DEC_7, now=LATER)
    with unit_of_work(fresh_db) as session:
        ClaimRepository(session).add(new_claim("c-published", member_id=7), at=LATER)
        period = PeriodRepository(session).get("chronic", DEC_7)
        assert period is not None
        entry = PublicityEntry(
            claim_id="c-published",
            masked_member="000***07",
            age=50,
            condition="Malignant Tumour",
            hospital="Ruijin Hospital",
            benefit_fen=10_000_000,
        )
        PublicityRepository(session).publish(period.id, [entry], share_fen=100, at=LATER)
    before = unchanged(ctx, root)
    with pytest.raises(RefusedError, match="published its list"):
        cancel_period(ctx, DEC_7, reason="too late", now=LATER)
    assert unchanged(ctx, root) == before


def test_a_cancel_killed_before_head_moved_is_finished_by_its_rerun(
    fresh_db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=500)
    population = ctx.store().head()
    lock_roster(ctx, DEC_7, now=LATER)

    def killed(self: object, snapshot: str) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(type(ctx.store()), "set_head", killed)
        with pytest.raises(KeyboardInterrupt):
            cancel_period(ctx, DEC_7, reason="locked by mistake", now=LATER)
    assert ctx.store().head() == "roster-2026-12-07"
    again = cancel_period(ctx, DEC_7, reason="locked by mistake", now=LATER)
    assert again.already_done
    assert ctx.store().head() == population
    lock_roster(ctx, DEC_21, now=LATER)


def test_a_staging_file_cleared_by_another_driver_is_staged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from settlement import files as files_module
    from tests.settlement.test_store import populated

    store = populated(tmp_path, list(range(1, 11)))
    place = files_module._place_if_absent
    calls = []

    def cleared_once(temporary: str, path: str) -> bool:
        calls.append(temporary)
        if len(calls) == 1:
            Path(temporary).unlink()  # the other driver's clear_staging
        return place(temporary, path)

    monkeypatch.setattr(files_module, "_place_if_absent", cleared_once)
    path = f"{store.snapshot_dir('gen-1')}/note.json"
    store.write_once(path, b"one", step="gen-1")
    assert Path(path).read_bytes() == b"one" and len(calls) == 2
