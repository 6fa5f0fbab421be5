"""The per-case cap is part of the share computation: whoever fixes a period's share (the
period workflow or `settle debit` by hand) pays the same capped amounts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from infra.db import reading
from infra.repositories import PeriodRepository
from mutualaid.errors import ConflictError, InputError
from mutualaid.share import payable_under_case_cap
from settlement.engine import Settlement, debit, fix_share, lock_roster
from tests.settlement.conftest import LATER, small_settlement

OCT_7, OCT_14 = date(2026, 10, 7), date(2026, 10, 14)
CASES = (30_000_000, 10_000_000)
CAP_PER_MEMBER = 10  # fen: at most 0.10 yuan per member per case


def capped(ctx: Settlement) -> Settlement:
    sharing = replace(ctx.plan.sharing, per_case_cap_enabled=True, per_case_cap_fen=CAP_PER_MEMBER)
    return replace(ctx, plan=replace(ctx.plan, sharing=sharing))


def fixed_aid(ctx: Settlement) -> int | None:
    with reading(ctx.db) as session:
        period = PeriodRepository(session).get(ctx.plan.id, OCT_7)
        assert period is not None
        return period.aid_fen


def test_a_debit_given_the_cases_pays_them_under_the_cap(fresh_db: Engine, tmp_path: Path) -> None:
    ctx = capped(small_settlement(fresh_db, tmp_path / "store"))
    members = lock_roster(ctx, OCT_7, now=LATER).members
    expected = payable_under_case_cap(CASES, members=members, per_member_cap_fen=CAP_PER_MEMBER)
    assert sum(expected) < sum(CASES)  # the cap binds at this N

    run = debit(ctx, OCT_14, now=LATER, cases_fen=CASES)

    assert fixed_aid(ctx) == sum(expected)
    again = fix_share(ctx, OCT_7, cases_fen=CASES)
    assert again.payouts_fen == tuple(expected)
    assert again.share.share_fen == run.share_fen
    # No case costs a member more than the cap.
    assert all(p <= CAP_PER_MEMBER * members for p in again.payouts_fen)


def test_an_aid_as_one_amount_is_refused_when_the_plan_caps_each_case(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = capped(small_settlement(fresh_db, tmp_path / "store"))
    lock_roster(ctx, OCT_7, now=LATER)
    with pytest.raises(InputError, match="caps each case"):
        debit(ctx, OCT_14, now=LATER, aid_fen=sum(CASES))
    assert fixed_aid(ctx) is None  # nothing written


def test_other_cases_after_the_share_is_fixed_are_a_conflict(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = capped(small_settlement(fresh_db, tmp_path / "store"))
    lock_roster(ctx, OCT_7, now=LATER)
    fix_share(ctx, OCT_7, cases_fen=CASES)
    before = fixed_aid(ctx)
    with pytest.raises(ConflictError, match="was fixed with aid"):
        fix_share(ctx, OCT_7, cases_fen=(1_000,))
    assert fixed_aid(ctx) == before


def test_a_period_with_no_cleared_case_is_debited_at_aid_zero_under_the_cap(
    fresh_db: Engine, tmp_path: Path
) -> None:
    ctx = capped(small_settlement(fresh_db, tmp_path / "store"))
    lock_roster(ctx, OCT_7, now=LATER)
    run = debit(ctx, OCT_14, now=LATER, aid_fen=0)
    assert run.share_fen == 0 and fixed_aid(ctx) == 0
    # The same period asked again with its (empty) case list is the same share.
    assert fix_share(ctx, OCT_7, cases_fen=()).share.share_fen == 0


def test_asking_a_fixed_share_again_needs_only_the_payouts(
    fresh_db: Engine, tmp_path: Path
) -> None:
    """A fixed share is answered from SQL; the cases only have to give the same aid under the
    cap (the carried surplus, which the first fix used, is not needed again)."""
    ctx = capped(small_settlement(fresh_db, tmp_path / "store"))
    lock_roster(ctx, OCT_7, now=LATER)
    first = fix_share(ctx, OCT_7, cases_fen=CASES)
    again = fix_share(ctx, OCT_7, cases_fen=CASES)
    assert again == first
