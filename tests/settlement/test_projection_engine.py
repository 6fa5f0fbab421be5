"""The projection and the settlement engine cannot disagree on a share.

A small projection (counts small enough to be people) is replayed member by member into the
engine: each projected join becomes a JOIN change with the cell's birth date and join day,
each voluntary exit, waiting-period refund and payout an EXIT change of a member of that cell;
the engine ages members out itself. Every period is then locked, debited with the projected
cases' benefits and retried to its close, and the engine's N, share, fee, subsidy, collected
money and surplus must be the projection's, period by period, across a new year (the annual
cap resets) and with the cap binding (a case costs this small pool more than the cap).

Debit failures are off here: the engine fails a debit for an empty account and the projection
draws failures as a rate, so the two cannot pick the same members.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from infra.db import make_engine, reading, unit_of_work, upgrade
from infra.models import PeriodRow
from infra.repositories import MemberChangeRepository, PlanRepository
from mutualaid.membership import ChangeKind, ExitReason, MemberChange
from settlement.engine import Settlement, debit, lock_roster, retry
from settlement.executor import InlineExecutor
from settlement.population import PopulationSpec, generate_population
from simulation.projection import PeriodProjection, ProjectionSpec, project
from simulation.projection_input import builtin_assumptions, with_settings
from tests.settlement.conftest import CHRONIC

LAUNCH = date(2026, 6, 1)
LATER = datetime(2030, 1, 1, tzinfo=UTC)
# Opening funds no share can exhaust: the engine fails no debit (see the module's note).
FUNDS_FEN = 10**12


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'engine.db'}")
    upgrade(engine)
    with unit_of_work(engine) as session:
        PlanRepository(session).record(CHRONIC, at=LATER)
    yield engine
    engine.dispose()


def small_projection(periods_years: float, seed: int) -> list[PeriodProjection]:
    assumptions = with_settings(
        builtin_assumptions("chronic"),
        # A pool of hundreds with a case every period or two: about a fifth a year fall ill.
        {
            "relative_risk": 60,
            "exit_rate_per_year": 0.1,
            "debit_failure_rate": 0,
            "claim_lag_periods": 1,
        },
    )
    # Half the pool joins at launch, the rest over the first months, then it tops up.
    assumptions = replace(
        assumptions, growth=((0, 0.0), (0.1, 0.5), (3, 1.0)), selection_by_year=()
    )
    return project(
        ProjectionSpec(
            plan=CHRONIC.plan,
            assumptions=assumptions,
            members=403,
            launch=LAUNCH,
            years=periods_years,
            seed=seed,
            record_events=True,
        )
    )


class Replay:
    """The engine's side: member ids by projection cell, and the changes that move them."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self.cells: dict[tuple[int, date], list[int]] = defaultdict(list)
        self.next_id = 1_000
        self.changes = 0

    def period(self, projected: PeriodProjection) -> None:
        with unit_of_work(self.db) as session:
            changes = MemberChangeRepository(session)
            for event in projected.events:
                cell = self.cells[(event.cohort, event.birth_date)]
                for _ in range(event.count):
                    if event.reason is None:
                        self.next_id += 1
                        cell.append(self.next_id)
                        self._queue(changes, self._join(self.next_id, event.birth_date, event.on))
                        continue
                    member_id = cell.pop()
                    if event.reason is not ExitReason.AGE_LIMIT:  # the engine's own rule
                        self._queue(changes, self._exit(member_id, event.on, event.reason))

    def _queue(self, changes: MemberChangeRepository, change: MemberChange) -> None:
        self.changes += 1
        changes.queue(change, change_key=f"replay-{self.changes}", at=LATER)

    @staticmethod
    def _join(member_id: int, birth: date, on: date) -> MemberChange:
        return MemberChange(
            plan_id="chronic",
            member_id=member_id,
            kind=ChangeKind.JOIN,
            effective_on=on,
            birth_date=birth,
            chronic_groups=(1,),
        )

    @staticmethod
    def _exit(member_id: int, on: date, reason: ExitReason) -> MemberChange:
        return MemberChange(
            plan_id="chronic",
            member_id=member_id,
            kind=ChangeKind.EXIT,
            effective_on=on,
            exit_reason=reason,
        )


def settle_projection(db: Engine, root: Path, projected: list[PeriodProjection]) -> list[str]:
    """Replay and settle every projected period; the differences found, if any."""
    # The store starts from a population of one, who leaves on launch day: the projection
    # starts from nobody.
    generate_population(
        str(root), CHRONIC.plan, PopulationSpec(members=1, shards=1, seed=1, as_of=LAUNCH)
    )
    with unit_of_work(db) as session:
        MemberChangeRepository(session).queue(
            Replay._exit(1, LAUNCH, ExitReason.LEFT), change_key="first-leaves", at=LATER
        )
    ctx = Settlement(db=db, store_root=str(root), plan=CHRONIC.plan, executor=InlineExecutor())
    replay = Replay(db)
    problems: list[str] = []
    for p in projected:
        replay.period(p)
        locked = lock_roster(ctx, p.publicity_date, now=LATER, opening_funds_fen=FUNDS_FEN)
        debit(ctx, p.sharing_date, cases_fen=list(p.benefits_fen), now=LATER)
        for _ in range(CHRONIC.plan.sharing.debit_retry_days):
            retry(ctx, p.sharing_date, now=LATER)
        # Every step asked again, as a resumed or doubled run would: nothing moves.
        again = (
            lock_roster(ctx, p.publicity_date, now=LATER, opening_funds_fen=FUNDS_FEN),
            debit(ctx, p.sharing_date, cases_fen=list(p.benefits_fen), now=LATER),
            retry(ctx, p.sharing_date, now=LATER),
        )
        if not all(step.already_done for step in again):
            problems.append(f"{p.publicity_date}: a step asked again did something")
        with reading(db) as session:
            row = (
                session.query(PeriodRow)
                .filter_by(plan_id="chronic", publicity_date=p.publicity_date)
                .one()
            )
            engine = {
                "members": locked.members,
                "aid_fen": row.aid_fen,
                "fee_fen": row.fee_fen,
                "surplus_in_fen": row.surplus_in_fen,
                "share_fen": row.share_fen,
                "subsidy_fen": row.subsidy_fen,
                "unpaid_fen": row.unpaid_fen,
                "collected_fen": row.collected_fen,
                "surplus_out_fen": row.surplus_out_fen,
            }
        projection = {key: getattr(p, key) for key in engine}
        if engine != projection:
            problems.append(f"{p.publicity_date}: engine {engine} != projection {projection}")
    return problems


def test_the_engine_settles_a_projection_to_the_same_shares(
    sqlite_db: Engine, tmp_path: Path
) -> None:
    projected = small_projection(0.75, seed=3)
    # The run must exercise what it claims: cases paid, the cap binding, a new year.
    assert sum(p.cases for p in projected) >= 3
    assert any(p.subsidy_fen > 0 and p.sharing_date.year == 2026 for p in projected)
    assert any(p.share_fen > 0 and p.sharing_date.year == 2027 for p in projected)
    assert any(p.surplus_out_fen != 0 for p in projected)
    assert sum(p.left + p.refunded for p in projected) > 0
    assert settle_projection(sqlite_db, tmp_path / "store", projected) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_a_year_and_a_half_of_projected_periods_settle_to_the_same_shares(
    sqlite_db: Engine, tmp_path: Path, seed: int
) -> None:
    projected = small_projection(1.5, seed=seed)
    assert sum(p.aged_out for p in projected) + sum(p.cases for p in projected) > 0
    assert settle_projection(sqlite_db, tmp_path / "store", projected) == []
