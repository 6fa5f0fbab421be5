"""A whole period reconciled again from its files and its SQL record, on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from infra.db import unit_of_work
from infra.repositories import DebitRunRepository, PeriodRepository
from mutualaid.errors import InputError
from mutualaid.share import surplus_out
from settlement.engine import Settlement
from settlement.reconcile import reconcile_shard_task


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodReconciliation:
    period: str
    state: str
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
    state: str
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
    with unit_of_work(ctx.db) as session:
        period = PeriodRepository(session).get(ctx.plan.id, publicity_date)
        if period is None:
            raise InputError(
                "period", f"period-{ctx.plan.id}-{publicity_date.isoformat()}", "does not exist"
            )
        runs_repo = DebitRunRepository(session)
        runs = [r for r in runs_repo.runs(period.id) if r.state == "committed"]
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
        )
        problems += [e for c in checked for e in c["errors"]]
        if problems:
            break
        files = (
            sum(c["paid_fen"] for c in checked),
            sum(c["unpaid_fen"] for c in checked),
            sum(c["subsidy_fen"] for c in checked),
        )
        if files != (paid, unpaid, subsidy):
            problems.append(f"attempt {attempt}: files {files} != SQL {(paid, unpaid, subsidy)}")
        if attempt == 0 and figures.billed is not None:
            rows = sum(c["rows"] for c in checked)
            if rows != figures.members:
                problems.append(f"{rows} ledger rows for a roster of {figures.members}")
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
