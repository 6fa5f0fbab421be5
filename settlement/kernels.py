"""Per-shard kernels: the roster lock and the debit, on one shard's Arrow table, no Ray.

Each kernel is a pure function of its inputs (same table and parameters, same bytes out), so
a shard re-run after a crash writes exactly what the first run wrote. The driver does the
exact integer arithmetic between phases; kernels return small stats for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mutualaid.calendar import latest_birth_date_for_age
from mutualaid.errors import InvariantError
from mutualaid.membership import ExitReason, Member, MemberChange, MemberStatus, apply_change
from settlement.schema import (
    COVERED,
    EXIT_CODES,
    LEDGER,
    MEMBERS,
    STATUS_CODES,
    member_from_row,
    member_to_row,
)

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Exit dates compare as day numbers; a member with no exit is "exits never".
_NEVER = np.iinfo(np.int64).max
_ACCOUNT_COLUMNS = ("funds_fen", "deposit_fen", "paid_year", "paid_this_year_fen", "unpaid_fen")


@dataclass(frozen=True, slots=True, kw_only=True)
class LockParams:
    plan_id: str
    publicity_date: date
    exit_age_years: int
    # Simulated rail: what a newly joined member's linked account holds.
    opening_funds_fen: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LockStats:
    shard: int
    rows: int
    on_roster: int
    joined: int
    exited: int
    aged_out: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitParams:
    publicity_date: date
    attempt: int
    share_fen: int
    annual_cap_fen: int
    year: int
    # On the last retry, members still unpaid are removed from the plan on this day.
    remove_unpaid_on: date | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitStats:
    shard: int
    rows: int
    charge_fen: int
    paid_fen: int
    unpaid_fen: int
    subsidy_fen: int
    removed: int


def day_numbers(column: pa.ChunkedArray | pa.Array) -> Ints:
    """A date32 column as int64 days since 1970-01-01 (nulls become _NEVER)."""
    days = pc.cast(column, pa.int32())
    filled = pc.fill_null(days, pa.scalar(np.iinfo(np.int32).max, pa.int32()))
    out: Ints = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.int64)
    out[out == np.iinfo(np.int32).max] = _NEVER
    return out


def day_number(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def on_roster(accounts: pa.Table, publicity_date: date) -> Bools:
    """Covered at 00:00 on the publicity day: joined before that day and not exited before it
    (an exit on the publicity day or later still owes the period)."""
    cutoff = day_number(publicity_date)
    joined = day_numbers(accounts["join_date"])
    exited = day_numbers(accounts["exit_date"])
    mask: Bools = (joined < cutoff) & (exited >= cutoff)
    return mask


def lock_shard(
    accounts: pa.Table, changes: Sequence[MemberChange], params: LockParams, *, shard: int
) -> tuple[pa.Table, LockStats]:
    """Fold the shard's pending changes, remove members who reached the exit age, and count the
    members on the period's roster. Changes are folded with the core's `apply_change`, in
    recording order, so a single-member look-up and the lock always agree."""
    accounts = by_member_id(accounts.cast(MEMBERS))
    accounts, joined, exited = _fold_changes(accounts, changes, params)
    accounts, aged_out = _age_out(accounts, params)
    roster = on_roster(accounts, params.publicity_date)
    return accounts, LockStats(
        shard=shard,
        rows=accounts.num_rows,
        on_roster=int(roster.sum()),
        joined=joined,
        exited=exited,
        aged_out=aged_out,
    )


def _fold_changes(
    accounts: pa.Table, changes: Sequence[MemberChange], params: LockParams
) -> tuple[pa.Table, int, int]:
    if not changes:
        return accounts, 0, 0
    changed_ids = sorted({c.member_id for c in changes})
    ids = accounts["member_id"].to_numpy()
    touched = np.isin(ids, np.asarray(changed_ids, dtype=np.int64))
    before: dict[int, tuple[Member, dict[str, object]]] = {}
    for row in accounts.filter(pa.array(touched)).to_pylist():
        kept = {column: row[column] for column in _ACCOUNT_COLUMNS}
        before[int(row["member_id"])] = (member_from_row(row, params.plan_id), kept)
    members: dict[int, Member | None] = {
        i: before[i][0] if i in before else None for i in changed_ids
    }
    for change in changes:
        members[change.member_id] = apply_change(members[change.member_id], change)
    rows = []
    joined = exited = 0
    for member_id in changed_ids:
        member = members[member_id]
        if member is None:
            continue  # an exit for a member who never joined changes nothing
        previous = before.get(member_id)
        account: dict[str, object]
        if previous is None:
            joined += 1
            account = {
                "funds_fen": params.opening_funds_fen,
                "deposit_fen": 0,
                "paid_year": params.publicity_date.year,
                "paid_this_year_fen": 0,
                "unpaid_fen": 0,
            }
        else:
            account = previous[1]
            if (
                previous[0].status is MemberStatus.COVERED
                and member.status is not MemberStatus.COVERED
            ):
                exited += 1
        rows.append(member_to_row(member) | account)
    kept = accounts.filter(pa.array(~touched))
    merged = pa.concat_tables([kept, pa.Table.from_pylist(rows, schema=MEMBERS)])
    return merged.sort_by("member_id"), joined, exited


def _age_out(accounts: pa.Table, params: LockParams) -> tuple[pa.Table, int]:
    limit = day_number(latest_birth_date_for_age(params.exit_age_years, params.publicity_date))
    status = accounts["status"].to_numpy().copy()
    births = day_numbers(accounts["birth_date"])
    aged: Bools = (status == COVERED) & (births <= limit)
    count = int(aged.sum())
    if count == 0:
        return accounts, 0
    # Reaching the age limit by 00:00 on publicity day means the member left before the
    # roster cut-off: recorded as leaving on the day before, so the roster rule needs no
    # special case for age.
    left_on = day_number(params.publicity_date - timedelta(days=1))
    status[aged] = STATUS_CODES[MemberStatus.EXITED]
    reasons = accounts["exit_reason"].to_numpy().copy()
    reasons[aged] = EXIT_CODES[ExitReason.AGE_LIMIT]
    exits = day_numbers(accounts["exit_date"])
    exits[aged] = left_on
    accounts = _replace(accounts, status=status, exit_reason=reasons)
    accounts = accounts.set_column(
        accounts.schema.get_field_index("exit_date"), "exit_date", _dates(exits)
    )
    return accounts, count


def debit_shard(
    accounts: pa.Table, params: DebitParams, *, shard: int
) -> tuple[pa.Table, pa.Table, DebitStats]:
    """One debit attempt over a shard. Returns (ledger, next accounts, stats).

    Attempt 0 bills every roster member the share: what fits under the annual cap is charged,
    the rest is operator subsidy. Retries charge only what is still unpaid. Within a family the
    payer's own share is debited first, then attached members in joining order; a debit goes
    through while the payer's account covers it and everything before it in that order.
    """
    # Sorted by member id, the output never depends on how the input rows were ordered.
    accounts = by_member_id(accounts.cast(MEMBERS))
    n = accounts.num_rows
    ids = accounts["member_id"].to_numpy()
    payers = accounts["payer_id"].to_numpy()
    funds: Ints = accounts["funds_fen"].to_numpy().astype(np.int64, copy=True)
    unpaid: Ints = accounts["unpaid_fen"].to_numpy().astype(np.int64, copy=True)
    roster = on_roster(accounts, params.publicity_date)
    payer_row = _payer_rows(ids, payers)
    if (payer_row >= n).any():
        missing = payers[payer_row >= n][0]
        raise InvariantError(
            f"payer {missing} is not in shard {shard} with the members it pays for"
        )

    paid_year = accounts["paid_year"].to_numpy().astype(np.int64, copy=True)
    paid_this_year = accounts["paid_this_year_fen"].to_numpy().astype(np.int64, copy=True)
    if params.attempt == 0:
        selected = roster
        split = split_columns_at_annual_cap(
            selected,
            share_fen=params.share_fen,
            paid_year=paid_year,
            paid_this_year_fen=paid_this_year,
            year=params.year,
            annual_cap_fen=params.annual_cap_fen,
        )
        charge, subsidy = split.charge_fen, split.subsidy_fen
        paid_year, paid_this_year = split.paid_year, split.paid_this_year_fen
    else:
        selected = roster & (unpaid > 0)
        charge = np.where(selected, unpaid, 0)
        subsidy = np.zeros(n, dtype=np.int64)
        # Simulated rail: the late money reaches the accounts of families still owing.
        owing_payers = np.unique(payer_row[selected])
        funds[owing_payers] += accounts["deposit_fen"].to_numpy()[owing_payers]

    paid = _debit_in_family_order(ids, payer_row, selected, charge, funds, accounts)
    still_unpaid = np.where(selected, charge - paid, unpaid)
    status = accounts["status"].to_numpy().copy()
    reasons = accounts["exit_reason"].to_numpy().copy()
    exits = day_numbers(accounts["exit_date"])
    removed = np.zeros(n, dtype=np.bool_)
    if params.remove_unpaid_on is not None:
        removed = selected & (still_unpaid > 0) & (status == COVERED)
        status[removed] = STATUS_CODES[MemberStatus.EXITED]
        reasons[removed] = EXIT_CODES[ExitReason.NON_PAYMENT]
        exits[removed] = day_number(params.remove_unpaid_on)

    next_accounts = _replace(
        accounts,
        funds_fen=funds,
        paid_year=paid_year.astype(np.int16),
        paid_this_year_fen=paid_this_year,
        unpaid_fen=still_unpaid,
        status=status,
        exit_reason=reasons,
    )
    next_accounts = next_accounts.set_column(
        next_accounts.schema.get_field_index("exit_date"), "exit_date", _dates(exits)
    )
    rows = np.flatnonzero(selected)
    share = params.share_fen if params.attempt == 0 else 0
    ledger = pa.table(
        {
            "member_id": pa.array(ids[rows], pa.int64()),
            "payer_id": pa.array(payers[rows], pa.int64()),
            "attempt": pa.array(np.full(len(rows), params.attempt, dtype=np.int8)),
            "share_fen": pa.array(np.full(len(rows), share, dtype=np.int64)),
            "charge_fen": pa.array(charge[rows], pa.int64()),
            "paid_fen": pa.array(paid[rows], pa.int64()),
            "subsidy_fen": pa.array(subsidy[rows], pa.int64()),
            "unpaid_fen": pa.array(still_unpaid[rows], pa.int64()),
            "removed": pa.array(removed[rows], pa.bool_()),
        },
        schema=LEDGER,
    )
    stats = DebitStats(
        shard=shard,
        rows=len(rows),
        charge_fen=int(charge[rows].sum()),
        paid_fen=int(paid[rows].sum()),
        unpaid_fen=int(still_unpaid[rows].sum()),
        subsidy_fen=int(subsidy[rows].sum()),
        removed=int(removed.sum()),
    )
    return ledger, next_accounts, stats


def owing_families(accounts: pa.Table, publicity_date: date) -> pa.Table:
    """Every row of the families a retry will charge: those with a roster member still
    unpaid, payer and attached members together, and each of those payers' own rows (the
    debit needs the payer's account; a payer may itself be attached to another account).

    A retry run on these rows alone charges, pays and removes exactly what it would on the
    whole shard: families never share an account, and the family order within one does not
    depend on the others. This is what a retry reads instead of the whole shard.
    tests/settlement/test_retry_writes_less.py holds the two equal on random populations."""
    accounts = by_member_id(accounts)
    n = accounts.num_rows
    owing = on_roster(accounts, publicity_date) & (accounts["unpaid_fen"].to_numpy() > 0)
    family = _payer_rows(accounts["member_id"].to_numpy(), accounts["payer_id"].to_numpy())
    # Marks by row, in O(n) with no sort; a payer not among the rows has a mark past the end.
    owing_payer = np.zeros(max(n, int(family.max()) + 1 if n else 0), dtype=np.bool_)
    owing_payer[family[owing]] = True
    wanted = owing_payer[family]
    while True:  # every row taken needs its payer's row: follow payers of payers
        with_payers = np.zeros(len(owing_payer), dtype=np.bool_)
        with_payers[:n] = wanted
        with_payers[family[wanted]] = True
        if (with_payers[:n] == wanted).all():
            return accounts.filter(pa.array(wanted))
        wanted = with_payers[:n]


def _payer_rows(ids: Ints, payers: Ints) -> Ints:
    """Each row's payer as a row number of these rows (ids sorted); payers that are not among
    them (in a part of a shard) get numbers from len(ids) on, one per payer."""
    n = len(ids)
    rows = np.searchsorted(ids, payers)
    found = rows < n
    found[found] = ids[rows[found]] == payers[found]
    if not found.all():
        _, absent = np.unique(payers[~found], return_inverse=True)
        rows[~found] = n + absent
    out: Ints = rows.astype(np.int64, copy=False)
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CapColumns:
    """Per row: what the member is charged, what the operator covers, and the member's
    (paid_year, paid_this_year_fen) after the charge."""

    charge_fen: Ints
    subsidy_fen: Ints
    paid_year: Ints
    paid_this_year_fen: Ints


def split_columns_at_annual_cap(
    billed: Bools,
    *,
    share_fen: int,
    paid_year: Ints,
    paid_this_year_fen: Ints,
    year: int,
    annual_cap_fen: int,
) -> CapColumns:
    """The column form of `mutualaid.share.split_at_annual_cap`, one row per member.

    For each billed row it is `split_at_annual_cap(share_fen=share_fen,
    paid_this_year_fen=already, annual_cap_fen=annual_cap_fen)`, where `already` is the row's
    paid_this_year_fen if its paid_year is `year` and 0 otherwise: the year rolls over, and
    money paid in an earlier year does not count toward this year's cap. A billed row's
    running total becomes already + charge in `year`. Rows not billed get no charge and no
    subsidy, and keep their paid_year and paid_this_year_fen.
    tests/settlement/test_annual_cap_property.py holds this equal to the core, fen for fen.
    """
    already = np.where(paid_year == year, paid_this_year_fen, 0)
    if share_fen < 0 or (billed & (already < 0)).any():
        # The core refuses the same inputs (InvariantError).
        raise InvariantError(f"negative share {share_fen} or paid this year")
    headroom = np.maximum(0, annual_cap_fen - already)
    charge = np.where(billed, np.minimum(share_fen, headroom), 0)
    return CapColumns(
        charge_fen=charge,
        subsidy_fen=np.where(billed, share_fen - charge, 0),
        paid_year=np.where(billed, year, paid_year),
        paid_this_year_fen=np.where(billed, already + charge, paid_this_year_fen),
    )


def _debit_in_family_order(
    ids: Ints, payer_row: Ints, selected: Bools, charge: Ints, funds: Ints, accounts: pa.Table
) -> Ints:
    """Debit each selected member's charge from the payer's funds (mutated in place) and
    return what each member paid. Families are ordered payer first, then attached members by
    join date and id; a debit succeeds while the running total fits the account."""
    is_payer = ids == ids[payer_row]
    order = family_order(payer_row, is_payer, day_numbers(accounts["join_date"]))
    chosen = order[selected[order]]
    paid = np.zeros(len(ids), dtype=np.int64)
    if len(chosen) == 0:
        return paid
    family = payer_row[chosen]
    owed = charge[chosen]
    running = np.cumsum(owed)
    starts = np.flatnonzero(np.r_[True, family[1:] != family[:-1]])
    before_family = np.repeat(running[starts] - owed[starts], np.diff(np.r_[starts, len(chosen)]))
    within = running - before_family
    goes_through = within <= funds[family]
    paid[chosen] = np.where(goes_through, owed, 0)
    np.subtract.at(funds, family, paid[chosen])
    if (funds < 0).any():
        raise InvariantError("a debit overdrew a linked account")
    return paid


def by_member_id(accounts: pa.Table) -> pa.Table:
    """The table in member-id order. Snapshots are written in that order, so the sort is
    skipped after an O(n) check when the rows already are (a stable sort would not move them)."""
    column = accounts["member_id"]
    if column.null_count == 0:
        ids = column.to_numpy()
        if bool((ids[1:] >= ids[:-1]).all()):
            return accounts
    return accounts.sort_by("member_id")


def family_order(payer_row: Ints, is_payer: Bools, joined: Ints) -> Ints:
    """Row positions in family order: by payer, the payer first, then attached members by join
    date, then member id (rows are in member-id order, so the row position stands for the id).

    One stable argsort of a packed int64 key (payer row, not-payer bit, join day offset) is
    several times faster than `np.lexsort` over four keys and gives the same order; when the
    parts do not fit in 63 bits it falls back to the lexsort.
    tests/settlement/test_family_order_property.py holds the two equal."""
    n = len(payer_row)
    rows = np.arange(n, dtype=np.int64)
    if n == 0:
        return rows
    first_day = int(joined.min())
    day_bits = max(1, (int(joined.max()) - first_day).bit_length())
    row_bits = max(1, (n - 1).bit_length())
    if row_bits + 1 + day_bits > 63:
        lexsorted: Ints = np.lexsort((rows, joined, ~is_payer, payer_row))
        return lexsorted
    key = (
        (payer_row.astype(np.int64) << (day_bits + 1))
        | ((~is_payer).astype(np.int64) << day_bits)
        | (joined - first_day)
    )
    ordered: Ints = np.argsort(key, kind="stable")
    return ordered


def _replace(table: pa.Table, **columns: npt.NDArray[np.generic]) -> pa.Table:
    for name, values in columns.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pa.array(values, table.schema.field(name).type))
    return table


def _dates(days: Ints) -> pa.Array:
    mask = days == _NEVER
    return pa.array(np.where(mask, 0, days).astype(np.int32), pa.date32(), mask=mask)
