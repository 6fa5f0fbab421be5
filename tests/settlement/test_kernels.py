"""Properties of the per-shard kernels, on random member tables (no Ray, no files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.plans import builtin_plan_sources
from mutualaid.calendar import age_on
from mutualaid.membership import ChangeKind, ExitReason, MemberChange, MemberStatus, apply_change
from settlement.kernels import DebitParams, LockParams, debit_shard, lock_shard, on_roster
from settlement.schema import COVERED, MEMBERS, member_from_row

PUBLICITY = date(2026, 12, 7)
# The chronic plan's annual cap (188 yuan), which every debit here runs under.
CAP = next(s.plan for s in builtin_plan_sources() if s.plan.id == "chronic").sharing.annual_cap_fen
# Family members get ids payer + 12 * k, so a family shares a shard for any shard count
# that divides 12.
STRIDE = 12


@dataclass(frozen=True)
class Person:
    member_id: int
    payer_id: int
    join_day: int  # days before publicity (negative: joined after)
    exit_day: int | None  # days relative to publicity
    funds: int
    deposit: int
    paid_this_year: int
    paid_year: int


@st.composite
def populations(draw: st.DrawFn) -> list[Person]:
    families = draw(st.integers(1, 25))
    people = []
    for f in range(families):
        payer = 1 + f
        size = draw(st.integers(1, 3))
        funds = draw(st.sampled_from([0, 50, 500, 1000, 5000, 100_000]))
        deposit = draw(st.sampled_from([0, 0, 300, 20_000]))
        for k in range(size):
            member = payer + STRIDE * 1000 * k
            people.append(
                Person(
                    member_id=member,
                    payer_id=payer,
                    join_day=draw(st.integers(-3, 400)),
                    exit_day=draw(st.one_of(st.none(), st.integers(-5, 5))),
                    funds=funds if k == 0 else 0,
                    deposit=deposit if k == 0 else 0,
                    paid_this_year=draw(
                        st.sampled_from([0, 9_000, CAP - 800, CAP - 10, CAP, CAP + 1_200])
                    ),
                    paid_year=draw(st.sampled_from([2025, 2026])),
                )
            )
    return people


def table(people: list[Person]) -> pa.Table:
    return pa.table(
        {
            "member_id": [p.member_id for p in people],
            "payer_id": [p.payer_id for p in people],
            "birth_date": [date(1990, 5, 5)] * len(people),
            "join_date": [PUBLICITY - timedelta(days=p.join_day) for p in people],
            "chronic_groups": [1] * len(people),
            "status": [COVERED if p.exit_day is None else 1 for p in people],
            "exit_reason": [0 if p.exit_day is None else 1 for p in people],
            "exit_date": [
                None if p.exit_day is None else PUBLICITY + timedelta(days=p.exit_day)
                for p in people
            ],
            "funds_fen": [p.funds for p in people],
            "deposit_fen": [p.deposit for p in people],
            "paid_year": [p.paid_year for p in people],
            "paid_this_year_fen": [p.paid_this_year for p in people],
            "unpaid_fen": [0] * len(people),
        },
        schema=MEMBERS,
    )


def params(share: int, attempt: int = 0, remove: bool = False) -> DebitParams:
    return DebitParams(
        publicity_date=PUBLICITY,
        attempt=attempt,
        share_fen=share,
        annual_cap_fen=CAP,
        year=2026,
        remove_unpaid_on=date(2026, 12, 19) if remove else None,
    )


shares = st.sampled_from([0, 1, 33, 470, 999, 5_000])


@settings(max_examples=60, deadline=None)
@given(people=populations(), share=shares)
def test_a_debit_balances_to_the_fen_and_every_roster_member_pays_the_share_or_says_why(
    people: list[Person], share: int
) -> None:
    accounts = table(people)
    ledger, after, stats = debit_shard(accounts, params(share), shard=0)
    roster = int(on_roster(accounts, PUBLICITY).sum())
    col = {name: np.asarray(ledger[name].to_numpy()) for name in ledger.column_names}
    assert ledger.num_rows == roster == stats.rows
    assert int((col["paid_fen"] + col["unpaid_fen"] + col["subsidy_fen"]).sum()) == share * roster
    assert (col["share_fen"] == share).all()
    assert (col["charge_fen"] + col["subsidy_fen"] == share).all()
    assert (col["paid_fen"] + col["unpaid_fen"] == col["charge_fen"]).all()
    # The cap: nobody is charged past the plan's cap in the year; the rest is operator
    # subsidy, and only once the cap is reached.
    before = accounts.sort_by("member_id")
    billed = np.isin(after["member_id"].to_numpy(), col["member_id"])
    already = np.where(
        np.asarray(before["paid_year"].to_numpy())[billed] == 2026,
        np.asarray(before["paid_this_year_fen"].to_numpy())[billed],
        0,
    )
    year_total = np.asarray(after["paid_this_year_fen"].to_numpy())[billed]
    assert (year_total == already + col["charge_fen"]).all()
    assert (year_total[col["charge_fen"] > 0] <= CAP).all()
    assert (year_total[col["subsidy_fen"] > 0] >= CAP).all()
    # Money leaves accounts exactly as paid, and no account is overdrawn.
    before_funds = int(np.asarray(accounts["funds_fen"].to_numpy()).sum())
    after_funds = np.asarray(after["funds_fen"].to_numpy())
    assert (after_funds >= 0).all()
    assert before_funds - int(after_funds.sum()) == stats.paid_fen == int(col["paid_fen"].sum())


@settings(max_examples=40, deadline=None)
@given(people=populations(), share=shares, seed=st.integers(0, 2**32 - 1))
def test_results_do_not_depend_on_row_order_or_shard_count(
    people: list[Person], share: int, seed: int
) -> None:
    whole = table(people)
    ledger, after, _ = debit_shard(whole, params(share), shard=0)
    shuffled = whole.take(np.random.default_rng(seed).permutation(whole.num_rows))
    ledger2, after2, _ = debit_shard(shuffled, params(share), shard=0)
    assert ledger2.equals(ledger) and after2.equals(after)
    for shards in (2, 3, 4):
        parts = []
        accounts = []
        for shard in range(shards):
            mask = pa.array(np.asarray(whole["member_id"].to_numpy()) % shards == shard)
            part_ledger, part_after, _ = debit_shard(whole.filter(mask), params(share), shard=shard)
            parts.append(part_ledger)
            accounts.append(part_after)
        assert pa.concat_tables(parts).sort_by("member_id").equals(ledger)
        assert pa.concat_tables(accounts).sort_by("member_id").equals(after)


@settings(max_examples=40, deadline=None)
@given(people=populations(), share=shares)
def test_retries_charge_only_the_unpaid_and_nobody_twice(people: list[Person], share: int) -> None:
    accounts = table(people)
    ledger, accounts, _ = debit_shard(accounts, params(share), shard=0)
    charged = dict(
        zip(ledger["member_id"].to_pylist(), ledger["charge_fen"].to_pylist(), strict=True)
    )
    paid: dict[int, int] = dict(
        zip(ledger["member_id"].to_pylist(), ledger["paid_fen"].to_pylist(), strict=True)
    )
    owing = {
        m
        for m, u in zip(
            ledger["member_id"].to_pylist(), ledger["unpaid_fen"].to_pylist(), strict=True
        )
        if u > 0
    }
    for attempt in range(1, 6):
        retry, accounts, _ = debit_shard(
            accounts, params(share, attempt, remove=attempt == 5), shard=0
        )
        assert set(retry["member_id"].to_pylist()) == owing
        for member, amount in zip(
            retry["member_id"].to_pylist(), retry["paid_fen"].to_pylist(), strict=True
        ):
            paid[member] += amount
        owing = {
            m
            for m, u in zip(
                retry["member_id"].to_pylist(), retry["unpaid_fen"].to_pylist(), strict=True
            )
            if u > 0
        }
    assert all(paid[m] <= charged[m] for m in charged)
    # After the last retry everyone still owing and still covered has been removed.
    final = accounts.to_pylist()
    for row in final:
        if row["member_id"] in owing and row["exit_reason"] in (0, 3):
            assert row["status"] == 1 and row["exit_reason"] == 3
            assert row["exit_date"] == date(2026, 12, 19)


def test_the_payer_pays_first_then_attached_members_in_joining_order() -> None:
    people = [
        Person(
            member_id=1,
            payer_id=1,
            join_day=300,
            exit_day=None,
            funds=1000,
            deposit=0,
            paid_this_year=0,
            paid_year=2026,
        ),
        Person(
            member_id=1 + STRIDE,
            payer_id=1,
            join_day=100,
            exit_day=None,
            funds=0,
            deposit=0,
            paid_this_year=0,
            paid_year=2026,
        ),
        Person(
            member_id=1 + 2 * STRIDE,
            payer_id=1,
            join_day=200,
            exit_day=None,
            funds=0,
            deposit=0,
            paid_this_year=0,
            paid_year=2026,
        ),
    ]
    ledger, after, _ = debit_shard(table(people), params(400), shard=0)
    paid = dict(zip(ledger["member_id"].to_pylist(), ledger["paid_fen"].to_pylist(), strict=True))
    # 1000 fen: the payer (400), then the member who joined 200 days ago (400); the newest fails.
    assert paid == {1: 400, 1 + STRIDE: 0, 1 + 2 * STRIDE: 400}
    assert after.filter(pa.compute.equal(after["member_id"], 1))["funds_fen"].to_pylist() == [200]


def test_the_annual_cap_turns_the_excess_into_operator_subsidy() -> None:
    people = [
        Person(
            member_id=1,
            payer_id=1,
            join_day=300,
            exit_day=None,
            funds=10_000,
            deposit=0,
            paid_this_year=CAP - 200,
            paid_year=2026,
        ),
        Person(
            member_id=2,
            payer_id=2,
            join_day=300,
            exit_day=None,
            funds=10_000,
            deposit=0,
            paid_this_year=CAP - 200,
            paid_year=2025,
        ),
    ]
    ledger, after, stats = debit_shard(table(people), params(500), shard=0)
    assert ledger.select(["member_id", "charge_fen", "subsidy_fen", "paid_fen"]).to_pylist() == [
        {"member_id": 1, "charge_fen": 200, "subsidy_fen": 300, "paid_fen": 200},
        {"member_id": 2, "charge_fen": 500, "subsidy_fen": 0, "paid_fen": 500},
    ]
    assert after["paid_this_year_fen"].to_pylist() == [CAP, 500]
    assert after["paid_year"].to_pylist() == [2026, 2026]
    assert stats.subsidy_fen == 300


def test_who_is_on_the_roster_follows_the_cutoff() -> None:
    people = [
        Person(
            member_id=1,
            payer_id=1,
            join_day=1,
            exit_day=None,
            funds=0,
            deposit=0,
            paid_this_year=0,
            paid_year=2026,
        ),
        Person(
            member_id=2,
            payer_id=2,
            join_day=0,
            exit_day=None,
            funds=0,
            deposit=0,
            paid_this_year=0,
            paid_year=2026,
        ),
        Person(
            member_id=3,
            payer_id=3,
            join_day=50,
            exit_day=-1,
            funds=0,
            deposit=0,
            paid_this_year=0,
            paid_year=2026,
        ),
        Person(
            member_id=4,
            payer_id=4,
            join_day=50,
            exit_day=0,
            funds=0,
            deposit=0,
            paid_this_year=0,
            paid_year=2026,
        ),
    ]
    # Joined the day before: counted. Joined on publicity day: not. Left the day before: owes
    # nothing. Left on publicity day: still owes.
    assert on_roster(table(people), PUBLICITY).tolist() == [True, False, False, True]


@settings(max_examples=40, deadline=None)
@given(
    people=populations(),
    births=st.lists(st.dates(date(1960, 1, 1), date(1975, 12, 31)), min_size=1, max_size=80),
    exits=st.lists(st.integers(0, 120), max_size=10),
    joins=st.integers(0, 5),
)
def test_the_lock_folds_changes_like_the_core_and_ages_out_at_60(
    people: list[Person], births: list[date], exits: list[int], joins: int
) -> None:
    accounts = table(people)
    accounts = accounts.set_column(
        2,
        "birth_date",
        pa.array([births[i % len(births)] for i in range(accounts.num_rows)], pa.date32()),
    )
    ids = accounts["member_id"].to_pylist()
    changes = [
        MemberChange(
            plan_id="chronic",
            member_id=ids[i % len(ids)],
            kind=ChangeKind.EXIT,
            effective_on=PUBLICITY - timedelta(days=3),
            exit_reason=ExitReason.LEFT,
        )
        for i in exits
    ] + [
        MemberChange(
            plan_id="chronic",
            member_id=10_000_000 + j,
            kind=ChangeKind.JOIN,
            effective_on=PUBLICITY - timedelta(days=2),
            birth_date=date(1988, 1, 1),
        )
        for j in range(joins)
    ]
    locked, stats = lock_shard(
        accounts,
        changes,
        LockParams(
            plan_id="chronic", publicity_date=PUBLICITY, exit_age_years=60, opening_funds_fen=777
        ),
        shard=0,
    )
    expected: dict[int, object] = {
        row["member_id"]: member_from_row(row, "chronic") for row in accounts.to_pylist()
    }
    for change in changes:
        expected[change.member_id] = apply_change(expected.get(change.member_id), change)  # type: ignore[arg-type]
    got = {row["member_id"]: member_from_row(row, "chronic") for row in locked.to_pylist()}
    assert set(got) == set(expected)
    for member_id, member in got.items():
        want = expected[member_id]
        if want.status is MemberStatus.COVERED and age_on(want.birth_date, PUBLICITY) >= 60:  # type: ignore[attr-defined]
            assert (member.status, member.exit_reason) == (
                MemberStatus.EXITED,
                ExitReason.AGE_LIMIT,
            )
            assert member.exit_date == PUBLICITY - timedelta(days=1)
        else:
            assert member == want
    assert stats.joined == joins
    assert stats.on_roster == int(on_roster(locked, PUBLICITY).sum())
    new_rows = locked.filter(pa.compute.greater_equal(locked["member_id"], 10_000_000))
    assert set(new_rows["funds_fen"].to_pylist()) <= {777}
