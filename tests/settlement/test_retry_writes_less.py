"""Debit retries write only what changed: checked from the written files alone.

Every figure here is recomputed from the Parquet and JSON files in the store with pandas and
pyarrow, not through `MemberStore`: the patch laid over its base by a merge written here, each
member's charges across the attempts, the annual cap, the deposits that reached each family,
the removals. And a second oracle: the debit kernel run the old way, over whole shards, must
give the same ledgers and the same final accounts.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from mutualaid.calendar import debit_day
from mutualaid.membership import ExitReason, MemberStatus
from settlement.engine import debit, lock_roster, retry
from settlement.kernels import DebitParams, debit_shard, owing_families
from settlement.patches import apply_patch
from settlement.schema import COVERED, EXIT_CODES, STATUS_CODES
from tests.settlement.conftest import CHRONIC, LATER, small_settlement
from tests.settlement.test_kernels import PUBLICITY, Person, params, populations, shares, table

OCT_7, OCT_14 = date(2026, 10, 7), date(2026, 10, 14)
SHARDS = 3
RETRIES = CHRONIC.plan.sharing.debit_retry_days


def _manifest(plan_dir: Path, snapshot: str) -> dict:  # type: ignore[type-arg]
    return json.loads((plan_dir / "snapshots" / snapshot / "manifest.json").read_text())


def _read(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _ledger(plan_dir: Path, attempt: int, shard: int) -> pd.DataFrame:
    return _read(
        plan_dir
        / "ledgers"
        / OCT_7.isoformat()
        / f"attempt-{attempt}"
        / f"shard-{shard:05d}.parquet"
    )


def _patched(plan_dir: Path, snapshot: str, shard: int) -> pd.DataFrame:
    """A shard of a snapshot as its manifest describes it: the base's rows, with the patch's
    row taking the place of each member it holds."""
    entry = _manifest(plan_dir, snapshot)["shards"][shard]
    base = _read(plan_dir / "snapshots" / (entry.get("base") or snapshot) / entry["file"])
    if "patch" not in entry:
        return base
    patch = _read(plan_dir / "snapshots" / snapshot / entry["patch"]["file"])
    assert set(patch.member_id) <= set(base.member_id)
    kept = base[~base.member_id.isin(patch.member_id)]
    return pd.concat([kept, patch]).sort_values("member_id").reset_index(drop=True)


def test_retries_write_only_the_families_owing_and_every_member_adds_up(
    fresh_db: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=4_000, shards=SHARDS, seed=11)
    plan_dir = root / "chronic"
    lock_roster(ctx, OCT_7, now=LATER)
    runs = [debit(ctx, OCT_14, aid_fen=40_000_000, now=LATER)]
    runs += [retry(ctx, OCT_14, now=LATER) for _ in range(RETRIES)]
    assert runs[-1].period_closed and runs[-1].removed
    first = f"debit-{OCT_7.isoformat()}-a0"
    share = runs[0].share_fen
    cap = CHRONIC.plan.sharing.annual_cap_fen
    removal_day = debit_day(OCT_14, RETRIES)

    for shard in range(SHARDS):
        roster_file = plan_dir / "snapshots" / f"roster-{OCT_7}" / f"shard-{shard:05d}.parquet"
        roster = _read(roster_file)
        ledgers = [_ledger(plan_dir, a, shard) for a in range(RETRIES + 1)]
        owing_payers = set(ledgers[0].payer_id[ledgers[0].unpaid_fen > 0])
        family_rows = set(roster.member_id[roster.payer_id.isin(owing_payers)])
        assert owing_payers, "the test needs members who do not pay on the sharing day"

        # What each retry wrote: a patch of exactly the families owing after the first debit
        # (never a full shard), on the first debit's full file.
        for attempt in range(1, RETRIES + 1):
            snapshot = f"debit-{OCT_7.isoformat()}-a{attempt}"
            entry = _manifest(plan_dir, snapshot)["shards"][shard]
            assert entry["base"] == first
            assert entry["sha256"] == _manifest(plan_dir, first)["shards"][shard]["sha256"]
            assert not (plan_dir / "snapshots" / snapshot / f"shard-{shard:05d}.parquet").exists()
            patch = _read(plan_dir / "snapshots" / snapshot / entry["patch"]["file"])
            assert set(patch.member_id) == family_rows

        final = _patched(plan_dir, f"debit-{OCT_7.isoformat()}-a{RETRIES}", shard).set_index(
            "member_id"
        )
        before = roster.set_index("member_id")
        first_ledger = ledgers[0].set_index("member_id")

        # Every member's charges: a retry charges exactly what the attempt before left unpaid,
        # so what was paid in all attempts plus what is left equals the first charge.
        paid = pd.concat([ledger.set_index("member_id").paid_fen for ledger in ledgers])
        paid_by_member = paid.groupby(level=0).sum()
        last_unpaid = pd.concat([ledger.set_index("member_id").unpaid_fen for ledger in ledgers])
        last_unpaid = last_unpaid.groupby(level=0).last()
        assert (paid_by_member + last_unpaid).equals(
            first_ledger.charge_fen.loc[paid_by_member.index]
        )
        for earlier, later in itertools.pairwise(ledgers):
            owed = earlier[earlier.unpaid_fen > 0]
            assert later.member_id.tolist() == owed.member_id.tolist()
            assert later.charge_fen.tolist() == owed.unpaid_fen.tolist()
        assert (final.unpaid_fen.loc[last_unpaid.index] == last_unpaid).all()

        # The annual cap: this year's charges never pass it, and the running total is kept.
        this_year = before.paid_this_year_fen.where(before.paid_year == OCT_14.year, 0)
        charged = first_ledger.charge_fen
        assert (this_year.loc[charged.index] + charged <= cap).all()
        assert (first_ledger.charge_fen + first_ledger.subsidy_fen == share).all()
        assert (
            final.paid_this_year_fen.loc[charged.index] == this_year.loc[charged.index] + charged
        ).all()

        # Each payer's account: what it held, less what its family paid in all attempts, plus
        # the deposit that reached it before every retry in which the family still owed.
        family_paid = paid.groupby(first_ledger.payer_id.reindex(paid.index)).sum()
        retried = pd.Series(0, index=before.index)
        for ledger in ledgers[1:]:
            for payer in set(ledger.payer_id):
                retried.loc[payer] += 1
        payers = before.index[before.index == before.payer_id]
        expected_funds = (
            before.funds_fen.loc[payers]
            - family_paid.reindex(payers, fill_value=0)
            + before.deposit_fen.loc[payers] * retried.loc[payers]
        )
        assert final.funds_fen.loc[payers].equals(expected_funds)

        # Removals: exactly the covered roster members still unpaid after the last retry,
        # on its day, for non-payment; nobody else's status moves.
        removed = set(ledgers[-1].member_id[ledgers[-1].removed])
        assert removed == set(last_unpaid.index[last_unpaid > 0]) & set(
            before.index[before.status == COVERED]
        )
        for member_id in removed:
            row = final.loc[member_id]
            assert row.status == STATUS_CODES[MemberStatus.EXITED]
            assert row.exit_reason == EXIT_CODES[ExitReason.NON_PAYMENT]
            assert row.exit_date == removal_day
        unchanged = before.index.difference(list(removed))
        assert final.status.loc[unchanged].equals(before.status.loc[unchanged])
        static = ["payer_id", "birth_date", "join_date", "chronic_groups", "deposit_fen"]
        assert final[static].equals(before[static])

        # The second oracle: the kernel over whole shards, attempt after attempt, as retries
        # ran before they wrote only what changed.
        accounts = pq.read_table(roster_file)
        for attempt in range(RETRIES + 1):
            params = DebitParams(
                publicity_date=OCT_7,
                attempt=attempt,
                share_fen=share,
                annual_cap_fen=cap,
                year=OCT_14.year,
                remove_unpaid_on=removal_day if attempt == RETRIES else None,
            )
            whole_ledger, accounts, _ = debit_shard(accounts, params, shard=shard)
            assert whole_ledger.to_pandas().equals(ledgers[attempt])
        assert accounts.to_pandas().set_index("member_id").equals(final)


def test_a_retry_reads_and_writes_only_the_families_owing(fresh_db: Engine, tmp_path: Path) -> None:
    root = tmp_path / "store"
    ctx = small_settlement(fresh_db, root, members=4_000, shards=SHARDS, seed=11)
    lock_roster(ctx, OCT_7, now=LATER)
    debit(ctx, OCT_14, aid_fen=40_000_000, now=LATER)
    retry(ctx, OCT_14, now=LATER)
    folder = root / "chronic" / "snapshots"
    # The first retry's only files: one patch a shard, as long as the first debit's owing file.
    written = sorted(p.name for p in (folder / f"debit-{OCT_7}-a1").iterdir())
    assert written == ["manifest.json", *(f"patch-{s:05d}.parquet" for s in range(SHARDS))]
    for shard in range(SHARDS):
        owing = pq.read_metadata(folder / f"debit-{OCT_7}-a0" / f"owing-{shard:05d}.parquet")
        full = pq.read_metadata(folder / f"debit-{OCT_7}-a0" / f"shard-{shard:05d}.parquet")
        patch = pq.read_metadata(folder / f"debit-{OCT_7}-a1" / f"patch-{shard:05d}.parquet")
        assert patch.num_rows == owing.num_rows < full.num_rows / 2


@settings(max_examples=80, deadline=None)
@given(
    people=populations(),
    share=shares,
    chained=st.lists(st.integers(0, 24), max_size=4),
)
def test_a_retry_over_the_owing_families_equals_one_over_the_whole_shard(
    people: list[Person], share: int, chained: list[int]
) -> None:
    """The kernel on `owing_families` gives the whole shard's ledger, and its rows laid over
    the whole shard give the whole shard's next accounts, attempt after attempt; also when a
    payer is itself attached to another account (nothing forbids it)."""
    payers = sorted({p.payer_id for p in people})
    for pick in chained:
        attached, to = payers[pick % len(payers)], payers[(pick + 1) % len(payers)]
        people = [
            dataclasses.replace(p, payer_id=to) if p.member_id == attached else p for p in people
        ]
    _, accounts, _ = debit_shard(table(people), params(share), shard=0)
    for attempt in range(1, 4):
        retry_params = params(share, attempt, remove=attempt == 3)
        whole_ledger, whole_next, _ = debit_shard(accounts, retry_params, shard=0)
        owing = owing_families(accounts, PUBLICITY)
        ledger, changed, _ = debit_shard(owing, retry_params, shard=0)
        assert ledger.equals(whole_ledger)
        assert apply_patch(accounts, changed, source="test").equals(whole_next)
        accounts = whole_next


@settings(max_examples=80, deadline=None)
@given(people=populations(), share=shares, kept=st.lists(st.booleans(), min_size=75, max_size=75))
def test_the_families_owing_are_found_in_any_part_of_a_shard(
    people: list[Person], share: int, kept: list[bool]
) -> None:
    """`owing_families` on any subset of a shard's rows (a payer may be missing from it) takes
    exactly the rows whose payer pays for a roster member still owing, and then the row of
    every payer of a row taken, as sets of member ids worked out here one row at a time."""
    _, accounts, _ = debit_shard(table(people), params(share), shard=0)
    part = accounts.filter([kept[i % len(kept)] for i in range(accounts.num_rows)])
    rows = part.to_pylist()
    roster_day = (PUBLICITY - date(1970, 1, 1)).days
    owing_payers = {
        r["payer_id"]
        for r in rows
        if r["unpaid_fen"] > 0
        and (r["join_date"] - date(1970, 1, 1)).days < roster_day
        and (r["exit_date"] is None or (r["exit_date"] - date(1970, 1, 1)).days >= roster_day)
    }
    wanted = {r["member_id"] for r in rows if r["payer_id"] in owing_payers}
    while True:
        payers_taken = {r["payer_id"] for r in rows if r["member_id"] in wanted}
        grown = wanted | {r["member_id"] for r in rows if r["member_id"] in payers_taken}
        if grown == wanted:
            break
        wanted = grown
    found = owing_families(part, PUBLICITY)["member_id"].to_pylist()
    assert found == sorted(wanted)
