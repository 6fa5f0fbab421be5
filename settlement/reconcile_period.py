"""A whole period reconciled again from its files and its SQL record, on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from infra.db import reading
from infra.repositories import DebitRunRepository, PeriodRepository
from infra.states import PeriodStage
from messages.periods import workflow_id as period_workflow_id
from mutualaid.calendar import sharing_day_for
from mutualaid.errors import InputError, MutualAidError
from mutualaid.share import surplus_out
from settlement.context import Settlement
from settlement.period_close import final_snapshot
from settlement.reconcile import YearLedgers, add_up, reconcile_shard_task, yearly_charges_task
from settlement.snapshots import debit_snapshot, roster_snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodReconciliation:
    period: str
    state: PeriodStage
    members: int | None
    share_fen: int | None
    billed_fen: int | None
    paid_fen: int
    subsidy_fen: int
    unpaid_fen: int
    surplus_out_fen: int | None
    attempts: int
    balanced: bool
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Figures:
    """The period's figures as SQL holds them."""

    id: str
    state: PeriodStage
    members: int | None
    share: int | None
    aid: int | None
    fee: int | None
    surplus_in: int
    surplus_out: int | None

    @property
    def billed(self) -> int | None:
        if self.share is None or self.members is None:
            return None
        return self.share * self.members


def reconcile_period(ctx: Settlement, publicity_date: date) -> PeriodReconciliation:
    store = ctx.store()
    with reading(ctx.db) as session:
        period = PeriodRepository(session).get(ctx.plan.id, publicity_date)
        if period is None:
            raise InputError(
                "period", period_workflow_id(ctx.plan.id, publicity_date), "does not exist"
            )
        runs_repo = DebitRunRepository(session)
        runs = runs_repo.committed(period.id)
        shas = [[s.ledger_sha256 for s in runs_repo.shards(r)] for r in runs]
        recorded = [
            (r.attempt, r.paid_fen or 0, r.unpaid_fen or 0, r.subsidy_fen or 0) for r in runs
        ]
        figures = _Figures(
            id=period.workflow_id,
            state=period.state,
            members=period.members,
            share=period.share_fen,
            aid=period.aid_fen,
            fee=period.fee_fen,
            surplus_in=period.surplus_in_fen or 0,
            surplus_out=period.surplus_out_fen,
        )
    problems: list[str] = []
    paid_total = subsidy_total = last_unpaid = 0
    for index, (attempt, paid, unpaid, subsidy) in enumerate(recorded):
        if attempt != index:
            problems.append(f"attempt {index} missing before attempt {attempt}")
            break
        checked = ctx.executor.map(
            reconcile_shard_task,
            [
                (
                    ctx.store_root,
                    ctx.plan.id,
                    publicity_date.isoformat(),
                    shard,
                    store.shards,
                    [shas[k][shard] for k in range(attempt + 1)],
                )
                for shard in range(store.shards)
            ],
            on_done=ctx.progress_of(f"reconcile {publicity_date} attempt {attempt}"),
        )
        totals = add_up(checked)
        problems += totals.errors
        if problems:
            break
        files = (totals.paid_fen, totals.unpaid_fen, totals.subsidy_fen)
        if files != (paid, unpaid, subsidy):
            problems.append(f"attempt {attempt}: files {files} != SQL {(paid, unpaid, subsidy)}")
        if attempt == 0 and figures.billed is not None:
            if totals.rows != figures.members:
                problems.append(f"{totals.rows} ledger rows for a roster of {figures.members}")
            if sum(files) != figures.billed:
                problems.append(
                    f"paid + unpaid + subsidy {sum(files)} != share x N {figures.billed}"
                )
        paid_total += paid
        subsidy_total += subsidy
        last_unpaid = unpaid
    billed = figures.billed
    if runs and billed is not None and paid_total + subsidy_total + last_unpaid != billed:
        problems.append("collected + unpaid != share x N")
    if figures.surplus_out is not None and figures.aid is not None and figures.fee is not None:
        expected = surplus_out(
            collected_fen=paid_total + subsidy_total,
            aid_fen=figures.aid,
            fee_fen=figures.fee,
            surplus_in_fen=figures.surplus_in,
        )
        if expected != figures.surplus_out:
            problems.append(f"surplus out {figures.surplus_out} != {expected} from the ledgers")
    if not problems and figures.state != PeriodStage.CANCELLED:
        # A cancelled period is off the chain: its roster stays for the record, nothing is
        # built on it and no money moved under it (cancel is refused once a debit ran).
        problems += _chain_problems(ctx, publicity_date)
    if not problems and runs:
        problems += _yearly_problems(ctx, publicity_date)
    return PeriodReconciliation(
        period=figures.id,
        state=figures.state,
        members=figures.members,
        share_fen=figures.share,
        billed_fen=billed,
        paid_fen=paid_total,
        subsidy_fen=subsidy_total,
        unpaid_fen=last_unpaid,
        surplus_out_fen=figures.surplus_out,
        attempts=len(recorded),
        balanced=not problems,
        problems=problems,
    )


def _chain_problems(ctx: Settlement, publicity_date: date) -> list[str]:
    """The period's links on the snapshot chain: its roster is built on the previous period's
    final snapshot (or the population, for a plan's first period), and each debit attempt on
    the one before it. A fork anywhere shows here."""
    store = ctx.store()
    roster = roster_snapshot(publicity_date)
    with reading(ctx.db) as session:
        previous = PeriodRepository(session).previous(ctx.plan.id, publicity_date)
        expected_parent = (
            final_snapshot(session, previous)
            if previous is not None and previous.closed_at is not None
            else None
        )
        previous_id = previous.workflow_id if previous is not None else None
        period = PeriodRepository(session).get(ctx.plan.id, publicity_date)
        runs = DebitRunRepository(session).committed(period.id) if period is not None else []
        attempts = [r.attempt for r in runs]
    problems: list[str] = []
    try:
        manifest = store.manifest(roster)
    except MutualAidError as exc:
        return [f"chain: {exc}"]
    if previous_id is not None and expected_parent is None:
        problems.append(f"chain: {roster} was locked before {previous_id} closed")
    elif previous_id is not None and manifest.parent != expected_parent:
        problems.append(
            f"chain: {roster} is built on {manifest.parent}, not on {expected_parent}, the final "
            f"snapshot of {previous_id} (a fork)"
        )
    elif previous_id is None and (
        manifest.parent is None or store.manifest(manifest.parent).kind != "population"
    ):
        problems.append(f"chain: {roster}, the first roster, is not built on a population")
    parent = roster
    for attempt in sorted(attempts):
        snapshot = debit_snapshot(publicity_date, attempt)
        try:
            link = store.manifest(snapshot).parent
        except MutualAidError as exc:
            problems.append(f"chain: {exc}")
            break
        if link != parent:
            problems.append(f"chain: {snapshot} is built on {link}, not on {parent}")
        parent = snapshot
    return problems


def _yearly_problems(ctx: Settlement, publicity_date: date) -> list[str]:
    """The annual cap per member over every period of the calendar year up to this one, and
    nobody removed for non-payment charged again, read from the committed ledgers."""
    store = ctx.store()
    year = sharing_day_for(publicity_date).year
    with reading(ctx.db) as session:
        runs_repo = DebitRunRepository(session)
        periods: list[tuple[str, bool, int, list[str], list[str]]] = []
        chain = [
            p
            for p in PeriodRepository(session).list(plan_id=ctx.plan.id)
            if p.state != PeriodStage.CANCELLED and p.publicity_date <= publicity_date
        ]
        this_year = [i for i, p in enumerate(chain) if p.sharing_date.year == year]
        # The period before the year's first one too: its removals cross the year boundary.
        first = max(this_year[0] - 1, 0) if this_year else len(chain)
        for period in chain[first:]:
            committed = runs_repo.committed(period.id)
            if not committed or committed[0].attempt != 0:
                continue
            last = max(committed, key=lambda r: r.attempt)
            first_shas = [s.ledger_sha256 for s in runs_repo.shards(committed[0])]
            last_shas = [s.ledger_sha256 for s in runs_repo.shards(last)]
            periods.append(
                (
                    period.publicity_date.isoformat(),
                    period.sharing_date.year == year,
                    last.attempt,
                    first_shas,
                    last_shas,
                )
            )
    checked = ctx.executor.map(
        yearly_charges_task,
        [
            (
                ctx.store_root,
                ctx.plan.id,
                shard,
                ctx.plan.sharing.annual_cap_fen,
                [
                    YearLedgers(
                        period=day,
                        charges=charges,
                        last=last_attempt,
                        first_sha=firsts[shard],
                        last_sha=lasts[shard],
                    )
                    for day, charges, last_attempt, firsts, lasts in periods
                ],
            )
            for shard in range(store.shards)
        ],
        on_done=ctx.progress_of(f"yearly cap {year}"),
    )
    return [e for errors in checked for e in errors]
