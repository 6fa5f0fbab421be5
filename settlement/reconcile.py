"""Reconciliation from the written ledger files, never from the driver's memory.

Per shard, a task re-reads the run's ledger (and the period's earlier attempts) and checks:
each member once and in its shard; paid + unpaid == charge and share == charge + subsidy on
every row; a retry charges exactly the members the attempt before left unpaid, exactly what
they owed (so nobody is charged twice). The driver then checks the period identity
paid + unpaid + subsidy == share x N. Any failure raises before anything is committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mutualaid.errors import InvariantError
from settlement.executor import Executor, Progress
from settlement.run_plan import DebitShardOutcome, RunPlan
from settlement.schema import LEDGER, read_parquet
from settlement.store import MemberStore


class ReconciliationError(InvariantError):
    """The written ledger does not balance: nothing of the run is committed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTotals:
    rows: int
    share_fen: int
    charge_fen: int
    paid_fen: int
    unpaid_fen: int
    subsidy_fen: int
    removed: int
    errors: tuple[str, ...]


NOTHING = RunTotals(
    rows=0, share_fen=0, charge_fen=0, paid_fen=0, unpaid_fen=0, subsidy_fen=0, removed=0, errors=()
)


def reconcile_shard_task(
    store_root: str, plan_id: str, period: str, shard: int, shards: int, ledger_shas: list[str]
) -> RunTotals:
    """Check one shard's ledger of attempt len(ledger_shas)-1 against the attempt before it;
    totals of that attempt (or only the errors, when a check fails). Only those two ledgers
    are read (each earlier one was checked against its own predecessor when it was
    committed), and of the one before only the two columns compared: a retry's check costs
    what its unpaid members cost, once past the first retry."""
    store = MemberStore.open(store_root, plan_id)
    errors: list[str] = []
    attempt = len(ledger_shas) - 1
    current = _read_ledger(store, period, attempt, shard, ledger_shas[-1])
    if isinstance(current, str):
        return _failed(current)
    if current.schema != LEDGER:
        path = store.ledger_path(period, attempt, shard)
        return _failed(f"ledger {path} lacks the ledger schema")
    col = {name: current[name].to_numpy() for name in LEDGER.names}
    ids = col["member_id"]
    if not (ids[1:] > ids[:-1]).all():
        errors.append(f"shard {shard}: a member appears twice in attempt {attempt}")
    if not (ids % shards == shard).all():
        errors.append(f"shard {shard}: a member of another shard is in attempt {attempt}")
    if (col["paid_fen"] + col["unpaid_fen"] != col["charge_fen"]).any():
        errors.append(f"shard {shard}: paid + unpaid != charge in attempt {attempt}")
    if (
        (col["paid_fen"] < 0).any()
        or (col["unpaid_fen"] < 0).any()
        or (col["subsidy_fen"] < 0).any()
    ):
        errors.append(f"shard {shard}: a negative amount in attempt {attempt}")
    if attempt == 0:
        if (col["charge_fen"] + col["subsidy_fen"] != col["share_fen"]).any():
            errors.append(f"shard {shard}: charge + subsidy != share")
    else:
        before = _read_ledger(
            store, period, attempt - 1, shard, ledger_shas[-2], columns=["member_id", "unpaid_fen"]
        )
        if isinstance(before, str):
            return _failed(before)
        if before.column_names != ["member_id", "unpaid_fen"]:
            path = store.ledger_path(period, attempt - 1, shard)
            return _failed(f"ledger {path} lacks the ledger schema")
        owing = before["unpaid_fen"].to_numpy() > 0
        if not np.array_equal(before["member_id"].to_numpy()[owing], ids):
            errors.append(f"shard {shard}: attempt {attempt} did not retry exactly the unpaid")
        elif not np.array_equal(before["unpaid_fen"].to_numpy()[owing], col["charge_fen"]):
            errors.append(f"shard {shard}: attempt {attempt} charged other than what was owed")
    return RunTotals(
        rows=current.num_rows,
        share_fen=int(col["share_fen"].sum()),
        charge_fen=int(col["charge_fen"].sum()),
        paid_fen=int(col["paid_fen"].sum()),
        unpaid_fen=int(col["unpaid_fen"].sum()),
        subsidy_fen=int(col["subsidy_fen"].sum()),
        removed=int(col["removed"].sum()),
        errors=tuple(errors),
    )


def add_up(checked: Sequence[RunTotals]) -> RunTotals:
    """The shards' totals added up; only the errors when any shard has one."""
    errors = tuple(e for c in checked for e in c.errors)
    if errors:
        return _failed(*errors)
    return RunTotals(
        rows=sum(c.rows for c in checked),
        share_fen=sum(c.share_fen for c in checked),
        charge_fen=sum(c.charge_fen for c in checked),
        paid_fen=sum(c.paid_fen for c in checked),
        unpaid_fen=sum(c.unpaid_fen for c in checked),
        subsidy_fen=sum(c.subsidy_fen for c in checked),
        removed=sum(c.removed for c in checked),
        errors=(),
    )


def reconcile_shards(
    executor: Executor,
    store_root: str,
    plan: RunPlan,
    outcomes: Sequence[DebitShardOutcome],
    history: Sequence[Sequence[str]] = (),
    *,
    on_done: Progress | None = None,
) -> RunTotals:
    """Run the per-shard checks and add them up. `history[s]` lists the ledger checksums of the
    earlier attempts of shard s (from the committed runs); `outcomes` are this run's tasks."""
    calls = [
        (
            store_root,
            plan.plan_id,
            plan.period.isoformat(),
            shard,
            plan.shards,
            [*(history[shard] if history else ()), outcomes[shard].ledger.sha256],
        )
        for shard in range(plan.shards)
    ]
    totals = add_up(executor.map(reconcile_shard_task, calls, on_done=on_done))
    if totals.errors:
        return totals
    reported = {
        "paid_fen": sum(o.stats.paid_fen for o in outcomes),
        "unpaid_fen": sum(o.stats.unpaid_fen for o in outcomes),
        "subsidy_fen": sum(o.stats.subsidy_fen for o in outcomes),
        "rows": sum(o.stats.rows for o in outcomes),
    }
    read_back = {
        "paid_fen": totals.paid_fen,
        "unpaid_fen": totals.unpaid_fen,
        "subsidy_fen": totals.subsidy_fen,
        "rows": totals.rows,
    }
    if reported != read_back:
        return replace(totals, errors=(f"files {read_back} differ from task results {reported}",))
    return totals


def check_run(plan: RunPlan, totals: RunTotals) -> None:
    """The period identities for one run; raises ReconciliationError on any failure."""
    errors = list(totals.errors)
    if not errors and plan.attempt == 0:
        billed = plan.share_fen * plan.members
        if totals.rows != plan.members:
            errors.append(f"{totals.rows} ledger rows for a roster of {plan.members}")
        if totals.paid_fen + totals.unpaid_fen + totals.subsidy_fen != billed:
            errors.append(
                f"paid {totals.paid_fen} + unpaid {totals.unpaid_fen} + subsidy "
                f"{totals.subsidy_fen} != share x N {billed}"
            )
    if errors:
        raise ReconciliationError(
            f"period {plan.plan_id} {plan.period.isoformat()} attempt {plan.attempt} does not "
            f"reconcile: {'; '.join(errors[:5])}"
        )


def _failed(*errors: str) -> RunTotals:
    return replace(NOTHING, errors=errors)


@dataclass(frozen=True, slots=True, kw_only=True)
class YearLedgers:
    """One period's ledgers of one shard, for the yearly check: its attempt-0 ledger and its
    last attempt's, with the checksums SQL recorded, and whether its charges count toward
    the year (the period before the year's first counts only for its removals)."""

    period: str
    charges: bool
    last: int
    first_sha: str
    last_sha: str


def yearly_charges_task(
    store_root: str,
    plan_id: str,
    shard: int,
    annual_cap_fen: int,
    periods: list[YearLedgers],
) -> list[str]:
    """Check one shard across the periods of a calendar year, in order: nobody is charged
    more than the annual cap in all of them together, and nobody removed for non-payment in a
    period is on a later period's ledger. Returns the problems found."""
    store = MemberStore.open(store_root, plan_id)
    errors: list[str] = []
    charged_ids: list[npt.NDArray[np.int64]] = []
    charges: list[npt.NDArray[np.int64]] = []
    removed: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
    for entry in periods:
        first = _read_ledger(store, entry.period, 0, shard, entry.first_sha)
        if isinstance(first, str):
            return [first]
        ids = first["member_id"].to_numpy()
        again = np.intersect1d(removed, ids)
        if len(again):
            errors.append(
                f"shard {shard}: {len(again)} members removed for non-payment are charged again "
                f"in {entry.period} (e.g. member {int(again[0])})"
            )
        if entry.charges:  # a period of the year whose cap is checked
            charged_ids.append(ids)
            charges.append(first["charge_fen"].to_numpy())
        final = _read_ledger(store, entry.period, entry.last, shard, entry.last_sha)
        if isinstance(final, str):
            return [final]
        gone = final["member_id"].to_numpy()[final["removed"].to_numpy(zero_copy_only=False)]
        removed = np.union1d(removed, gone)
    if charged_ids:
        members, where = np.unique(np.concatenate(charged_ids), return_inverse=True)
        totals = np.zeros(len(members), dtype=np.int64)
        np.add.at(totals, where, np.concatenate(charges))
        over = np.flatnonzero(totals > annual_cap_fen)
        if len(over):
            worst = over[np.argmax(totals[over])]
            errors.append(
                f"shard {shard}: {len(over)} members charged over the annual cap "
                f"{annual_cap_fen} (member {int(members[worst])}: {int(totals[worst])})"
            )
    return errors


def _read_ledger(
    store: MemberStore,
    period: str,
    attempt: int,
    shard: int,
    sha: str,
    *,
    columns: list[str] | None = None,
) -> pa.Table | str:
    """A ledger file that must match the checksum SQL recorded; what is wrong when not."""
    path = store.ledger_path(period, attempt, shard)
    data = store.read_file(path)
    if data is None:
        return f"ledger {path} is missing"
    if hashlib.sha256(data).hexdigest() != sha:
        return f"ledger {path} differs from its recorded checksum"
    try:
        return read_parquet(data, columns)
    except (pa.ArrowInvalid, OSError):  # not Parquet, or a column missing
        return f"ledger {path} lacks the ledger schema"
