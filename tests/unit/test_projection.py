"""The cost projection on its own: the published share, the climb on defaults, the money of
every period adding up, the head count adding up, seeds, and bad assumptions refused."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from fractions import Fraction
from functools import cache

import pytest

from infra.plans import builtin_plan_sources
from mutualaid.errors import InputError
from mutualaid.plan import Plan
from mutualaid.share import compute_share
from simulation.projection import PeriodProjection, ProjectionSpec, project, publicity_days
from simulation.projection_input import (
    builtin_assumptions,
    growth_points,
    parse_assumptions,
    with_growth,
    with_settings,
)
from workers.projection_report import yearly

PLANS: dict[str, Plan] = {s.plan.id: s.plan for s in builtin_plan_sources()}


@cache
def default_run(seed: int = 1) -> tuple[PeriodProjection, ...]:
    plan = PLANS["chronic"]
    spec = ProjectionSpec(
        plan=plan,
        assumptions=builtin_assumptions("chronic"),
        members=100_000_000,
        launch=plan.effective_from,
        years=5,
        seed=seed,
    )
    return tuple(project(spec))


def test_the_published_august_2020_share_comes_out_of_the_core() -> None:
    # About 105.4 million members, 456 million yuan of aid, the 8% fee, no surplus.
    share = compute_share(
        aid_fen=456_000_000_00, surplus_in_fen=0, members=105_400_000, fee_rate=Fraction(8, 100)
    )
    assert share.share_fen == 4_68


def test_on_defaults_the_share_climbs_from_nothing_and_levels_off() -> None:
    periods = default_run()
    assert len(periods) == 120
    # The waiting period (90 days) and the claim's lag keep every case out at first.
    first_case = next(i for i, p in enumerate(periods) if p.cases > 0)
    assert 6 <= first_case <= 12
    assert all(p.share_fen == 0 for p in periods[:first_case])
    full_years = [y.shares_fen for y in yearly(periods) if y.periods == 24]
    assert len(full_years) == 4
    rises = [b - a for a, b in itertools.pairwise(full_years)]
    # Rising year on year, each rise smaller than the one before: levelling off.
    assert all(r > 0 for r in rises)
    assert rises[0] > rises[1] > rises[2]
    assert rises[-1] < full_years[-1] * 0.15


def test_every_period_balances_and_the_surplus_carries_over() -> None:
    plan = PLANS["chronic"]
    periods = default_run()
    surplus = 0
    for p in periods:
        share = compute_share(
            aid_fen=p.aid_fen,
            surplus_in_fen=surplus,
            members=p.members,
            fee_rate=plan.sharing.fee_rate,
        )
        assert (p.share_fen, p.fee_fen, p.surplus_in_fen) == (
            share.share_fen,
            share.fee_fen,
            surplus,
        )
        assert p.charged_fen + p.subsidy_fen == p.share_fen * p.members, p.publicity_date
        assert p.collected_fen + p.unpaid_fen == p.share_fen * p.members
        assert p.surplus_out_fen == p.collected_fen - (p.aid_fen + p.fee_fen - surplus)
        assert p.year_charged_fen <= plan.sharing.annual_cap_fen
        surplus = p.surplus_out_fen


def test_every_member_is_accounted_for_from_one_roster_to_the_next() -> None:
    periods = default_run()
    for before, after in itertools.pairwise(periods):
        expected = (
            before.members
            - before.removed
            - before.paid_out
            - after.left
            - after.refunded
            - after.aged_out
            + after.joined
        )
        assert after.members == expected, after.publicity_date


def test_the_annual_cap_binds_on_defaults_and_the_operator_pays_the_rest() -> None:
    years = yearly(default_run())
    over = [y for y in years if y.shares_fen > PLANS["chronic"].sharing.annual_cap_fen]
    assert over, "the default chronic plan stays under its cap"
    assert all(y.charged_fen == PLANS["chronic"].sharing.annual_cap_fen for y in over)
    assert all(y.subsidy_fen > 0 for y in over)


def test_a_seed_repeats_a_run_and_another_seed_draws_another() -> None:
    assert default_run(1) == tuple(default_run.__wrapped__(1))
    assert default_run(1) != default_run(2)


def test_a_what_if_longer_waiting_period_delays_the_first_cases() -> None:
    plan = PLANS["chronic"]
    longer = replace(plan, coverage=replace(plan.coverage, waiting_days=180))
    spec = ProjectionSpec(
        plan=longer,
        assumptions=builtin_assumptions("chronic"),
        members=1_000_000,
        launch=plan.effective_from,
        years=1,
        seed=1,
    )
    base = next(i for i, p in enumerate(default_run()) if p.cases > 0)
    later = next(i for i, p in enumerate(project(spec)) if p.cases > 0)
    assert later >= base + 5


def test_publicity_days_follow_launch_and_the_growth_path_is_reached() -> None:
    assert publicity_days(date(2020, 5, 13), 0.1)[:2] == [date(2020, 5, 21), date(2020, 6, 7)]
    periods = default_run()
    assert periods[0].publicity_date == date(2020, 5, 21)
    # A year after launch the growth path's full membership is on the roster.
    assert periods[30].members == 100_000_000


def test_the_platform_growth_path_ships_and_loads() -> None:
    assumptions = with_growth(builtin_assumptions("chronic"), "platform")
    assert assumptions.growth[-1] == (38.0, 0.712)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"relative_risk": -1}, "projection.relative_risk"),
        ({"debit_failure_rate": 1.5}, "projection.debit_failure_rate"),
        ({"claim_lag_periods": "two"}, "projection.claim_lag_periods"),
        ({"colour": 1}, "projection.colour"),
    ],
)
def test_a_bad_setting_names_its_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        with_settings(builtin_assumptions("chronic"), change)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("points = [[0, 0.0], [0, 1.0]]", "growth.points[1].month"),
        ("points = [[0, -1.0]]", "growth.points[0].fraction"),
        ("points = []", "growth.points"),
        ("dots = [[0, 1.0]]", "dots"),
    ],
)
def test_a_bad_growth_path_names_its_field(text: str, field: str) -> None:
    with pytest.raises(InputError) as caught:
        growth_points(text, source="test")
    assert caught.value.field == field


def test_bad_assumption_files_name_their_field() -> None:
    good = (
        '[projection]\nplan = "chronic"\ngrowth = "launch"\nclaim_scenario = "default"\n'
        "relative_risk = 1\nexit_rate_per_year = 0.1\ndebit_failure_rate = 0\n"
        "retry_recovery = 0\nclaim_lag_periods = 2\n"
        '[[incidence]]\ncondition = "malignant tumour"\nsource = "s"\n'
        "per_100k = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    )
    assert parse_assumptions(good, source="t").claim_lag_periods == 2
    for broken, field in (
        (good.replace("per_100k = [1, 1, ", "per_100k = ["), "incidence[0].per_100k"),
        (good.replace('growth = "launch"', 'growth = "moon"'), "growth"),
        (good.replace('"default"', '"nope"'), "scenario"),
        (good + "[extra]\n", "extra"),
    ):
        with pytest.raises(InputError) as caught:
            parse_assumptions(broken, source="t")
        assert caught.value.field == field, broken


def test_a_plan_whose_illnesses_have_no_rate_is_refused() -> None:
    plan = PLANS["chronic"]
    other = replace(plan, coverage=replace(plan.coverage, covered_conditions=frozenset({"gout"})))
    spec = ProjectionSpec(
        plan=other,
        assumptions=builtin_assumptions("chronic"),
        members=1000,
        launch=plan.effective_from,
        years=1,
        seed=1,
    )
    with pytest.raises(InputError, match="incidence"):
        project(spec)


@pytest.mark.parametrize(("members", "years"), [(0, 5), (3_000_000_000, 5), (100, 0), (100, 51)])
def test_a_projection_of_nobody_or_forever_is_refused(members: int, years: float) -> None:
    plan = PLANS["chronic"]
    with pytest.raises(InputError):
        ProjectionSpec(
            plan=plan,
            assumptions=builtin_assumptions("chronic"),
            members=members,
            launch=plan.effective_from,
            years=years,
            seed=1,
        )
