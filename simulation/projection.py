"""The cost projection: the program period by period from launch, as counts of members.

Why counts and not people: a 100-million-member plan over five years is 120 periods; drawing
every member would take minutes and gigabytes, and every member of the same age who joined in
the same period is interchangeable to the rules (same waiting period, same shares paid this
year, same benefit band, same age limit). So the state is a table of counts by *join cohort*
(the period a member was first locked in) and *birth month* (members are born on the 1st):
about 120 x 800 cells whatever the size. Every event is drawn per cell from a seeded numpy
generator (binomial and multinomial), so counts stay whole numbers, a run is reproducible
with its seed, and a small projection is a real population the settlement engine can settle
(tests/settlement/test_projection_engine.py does, share by share).

The money is the pure core's, as in the engine: `share_for_cases` (share, fee, per-case cap),
`split_at_annual_cap` per join cohort (its members have paid the same this year),
`surplus_out`; the calendar (publicity and sharing days, waiting period, age limit) is
`mutualaid.calendar`.

Timing, the same as the engine's rules:
- members of cohort k join on the previous publicity day (cohort 0 on launch day) and are in
  the roster locked on publicity day k;
- voluntary leavers, members diagnosed in their waiting period (refunded) and members aged
  out leave before the lock and owe nothing for the period;
- a case diagnosed between two locks is published `claim_lag_periods` later (objected ones
  one period more, appealed ones two); its member is counted and pays until the payout on the
  sharing day of the case's period, then leaves;
- the debit on the sharing day charges every member of the roster; the unpaid after the
  retries are removed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from mutualaid.age_structure import AGE_BAND_YEARS
from mutualaid.calendar import (
    age_on,
    latest_birth_date_for_age,
    next_publicity_day,
    sharing_day_for,
    start_of_day,
    waiting_period_last_day,
)
from mutualaid.errors import InputError
from mutualaid.membership import ExitReason
from mutualaid.plan import Plan
from mutualaid.share import share_for_cases, split_at_annual_cap, surplus_out
from simulation.projection_input import Assumptions, covered_incidence

Counts = npt.NDArray[np.int64]
# The most members a projection takes: share x N must stay within 64-bit fen.
MOST_MEMBERS = 2_000_000_000
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True, kw_only=True)
class CellEvent:
    """Members of one cell (join cohort, birth date) joining or leaving: what the settlement
    engine needs to replay a projection member by member."""

    cohort: int
    birth_date: date
    count: int
    on: date
    reason: ExitReason | None  # None: a join


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodProjection:
    """One period's figures. Money in fen; `year_*` are for a member on the roster since 1
    January of the sharing day's year."""

    publicity_date: date
    sharing_date: date
    members: int
    joined: int
    left: int
    aged_out: int
    refunded: int
    removed: int
    paid_out: int
    diagnosed: int
    cases: int
    aid_fen: int
    fee_fen: int
    surplus_in_fen: int
    share_fen: int
    charged_fen: int
    subsidy_fen: int
    unpaid_fen: int
    collected_fen: int
    surplus_out_fen: int
    year_shares_fen: int
    year_charged_fen: int
    benefits_fen: tuple[int, ...] = ()
    events: tuple[CellEvent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionSpec:
    plan: Plan
    assumptions: Assumptions
    members: int  # the target the growth path's fractions scale
    launch: date
    years: float
    seed: int
    record_events: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.members <= MOST_MEMBERS:
            raise InputError("members", self.members, f"must be from 1 to {MOST_MEMBERS:,}")
        if not 0 < self.years <= 50:
            raise InputError("years", self.years, "must be more than 0 and at most 50")


@dataclass(slots=True)
class _State:
    """The projection's running state: counts by (join cohort, birth month)."""

    covered: Counts  # on the roster, no case waiting for payout
    # Members whose case will be paid on publicity day t (they stay on the roster until then).
    claimants: dict[int, Counts] = field(default_factory=dict)
    # Each claimant's benefit, by the period that pays it: (benefit fen, count).
    benefits: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    paid_year: int = 0
    paid_this_year: npt.NDArray[np.int64] | None = None  # by join cohort
    year_shares: int = 0
    year_charged: int = 0
    surplus: int = 0


def publicity_days(launch: date, years: float) -> list[date]:
    """Every publicity day after launch, for `years` years."""
    end = launch + timedelta(days=round(years * DAYS_PER_YEAR))
    days: list[date] = []
    day = next_publicity_day(start_of_day(launch + timedelta(days=1)))
    while day <= end:
        days.append(day)
        day = next_publicity_day(start_of_day(day + timedelta(days=1)))
    return days


def target_members(spec: ProjectionSpec, on: date) -> int:
    """The growth path's membership on a day: straight lines between its points."""
    months = (on - spec.launch).days / (DAYS_PER_YEAR / 12)
    points = spec.assumptions.growth
    fraction = points[-1][1]
    if months <= points[0][0]:
        fraction = points[0][1]
    for (m0, f0), (m1, f1) in itertools.pairwise(points):
        if m0 <= months <= m1:
            fraction = f0 + (f1 - f0) * (months - m0) / (m1 - m0)
            break
    return round(spec.members * fraction)


def project(spec: ProjectionSpec) -> list[PeriodProjection]:
    return list(iter_projection(spec))


def iter_projection(spec: ProjectionSpec) -> Iterator[PeriodProjection]:
    """Each period's figures in calendar order."""
    plan, a = spec.plan, spec.assumptions
    rng = np.random.default_rng(spec.seed)
    days = publicity_days(spec.launch, spec.years)
    births = _birth_months(spec.launch, days[-1] if days else spec.launch, plan)
    rates = covered_incidence(a, plan.coverage.covered_conditions)
    fates = _fates(a)
    state = _State(covered=np.zeros((len(days), len(births)), dtype=np.int64))
    state.paid_this_year = np.zeros(len(days), dtype=np.int64)
    previous = spec.launch
    for k, day in enumerate(days):
        events: list[CellEvent] = []
        joined_on = _joined_on(spec, days, k)
        # Between the locks: leavers, diagnoses, the age limit, then joiners to the target.
        left = _draw_leavers(spec, state, rng, days, k, births, events)
        diagnosed, refunded = _draw_diagnoses(
            spec, state, rng, days, k, births, rates, fates, previous, events
        )
        aged_out = _age_out(spec, state, births, day, events)
        on_roster = _roster(state)
        joined = max(0, target_members(spec, day) - on_roster)
        if joined:
            weights = _joiner_weights(a.joiner_age_weights, births, joined_on, day, plan)
            state.covered[k] = rng.multinomial(joined, weights)
            events += _cells(state.covered[k], k, births, joined_on, None, spec)
        members = on_roster + joined
        # Publicity: the cases this period pays, and the share.
        benefits = [b for b, n in sorted(state.benefits.pop(k, [])) for _ in range(n)]
        shared = share_for_cases(
            benefits,
            surplus_in_fen=state.surplus,
            members=members,
            fee_rate=plan.sharing.fee_rate,
            per_case_cap_fen=plan.sharing.case_cap_fen,
        )
        # Sharing day: the debit, the cap per join cohort, the unpaid removed, the payouts.
        sharing = sharing_day_for(day)
        charged, subsidy, unpaid, removed = _debit(
            spec, state, rng, shared.share.share_fen, sharing, k, births, events
        )
        paid_out = _pay_out(spec, state, k, births, sharing, events)
        collected = charged - unpaid + subsidy
        surplus = surplus_out(
            collected_fen=collected,
            aid_fen=shared.share.aid_fen,
            fee_fen=shared.share.fee_fen,
            surplus_in_fen=state.surplus,
        )
        yield PeriodProjection(
            publicity_date=day,
            sharing_date=sharing,
            members=members,
            joined=joined,
            left=left,
            aged_out=aged_out,
            refunded=refunded,
            removed=removed,
            paid_out=paid_out,
            diagnosed=diagnosed,
            cases=len(benefits),
            aid_fen=shared.share.aid_fen,
            fee_fen=shared.share.fee_fen,
            surplus_in_fen=state.surplus,
            share_fen=shared.share.share_fen,
            charged_fen=charged,
            subsidy_fen=subsidy,
            unpaid_fen=unpaid,
            collected_fen=collected,
            surplus_out_fen=surplus,
            year_shares_fen=state.year_shares,
            year_charged_fen=state.year_charged,
            benefits_fen=tuple(benefits) if spec.record_events else (),
            events=tuple(events),
        )
        state.surplus = surplus
        previous = day


_BAND_EDGES = np.array(AGE_BAND_YEARS)


def _joined_on(spec: ProjectionSpec, days: list[date], cohort: int) -> date:
    """Cohort k joins on the previous publicity day (cohort 0 on launch day)."""
    return spec.launch if cohort == 0 else days[cohort - 1]


def _ages_on(births: list[date], day: date) -> npt.NDArray[np.int64]:
    """Each birth month's age in whole years on a day; -1 for months not yet come."""
    return np.array([age_on(b, day) if b <= day else -1 for b in births], dtype=np.int64)


def _age_bands(ages: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The 5-year band of each age (0 for 0-4); -1 for -1."""
    bands: npt.NDArray[np.int64] = np.searchsorted(_BAND_EDGES, ages, side="right") - 1
    return bands


def _roster(state: _State) -> int:
    return int(state.covered.sum()) + sum(int(c.sum()) for c in state.claimants.values())


def _birth_months(launch: date, last: date, plan: Plan) -> list[date]:
    """The 1st of every month in which a member on any roster of the run can be born."""
    oldest = latest_birth_date_for_age(plan.joining.exit_age_years + 1, launch)
    month = date(oldest.year, oldest.month, 1)
    months = []
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def _joiner_weights(
    band_weights: tuple[float, ...],
    births: list[date],
    joined_on: date,
    first_lock: date,
    plan: Plan,
) -> npt.NDArray[np.float64]:
    """The chance a joiner is born in each birth month: the band's weight spread evenly over
    the months of the band a person may join at (30 days to the maximum age), leaving out
    those the age limit would remove at their first lock."""
    ages = _ages_on(births, joined_on)
    old_enough = np.array([(joined_on - b).days >= plan.joining.min_age_days for b in births])
    limit = latest_birth_date_for_age(plan.joining.exit_age_years, first_lock)
    stays = np.array([b > limit for b in births])
    eligible = old_enough & stays & (ages >= 0) & (ages <= plan.joining.max_age_years)
    band = _age_bands(ages)
    weights = np.zeros(len(births))
    for i, weight in enumerate(band_weights):
        in_band = eligible & (band == i)
        if in_band.any():
            weights[in_band] = weight / in_band.sum()
    if weights.sum() <= 0:
        raise InputError("joiners.age_weights", band_weights, "leave nobody who may join")
    normalised: npt.NDArray[np.float64] = weights / weights.sum()
    return normalised


def _interval_chance(rate_per_year: float, days: int) -> float:
    """The chance of an event with this yearly rate within `days`."""
    return float(1.0 - (1.0 - min(rate_per_year, 1.0)) ** (days / DAYS_PER_YEAR))


def _draw_leavers(
    spec: ProjectionSpec,
    state: _State,
    rng: np.random.Generator,
    days: list[date],
    k: int,
    births: list[date],
    events: list[CellEvent],
) -> int:
    """Voluntary leavers, and more where the growth path falls below the roster."""
    if k == 0:
        return 0
    gap = (days[k] - days[k - 1]).days
    chance = _interval_chance(spec.assumptions.exit_rate_per_year, gap)
    cohorts = state.covered[:k]  # the cohorts that have joined so far
    leaving = rng.binomial(cohorts, chance)
    remaining = int(cohorts.sum() - leaving.sum())
    excess = _roster(state) - int(leaving.sum()) - target_members(spec, days[k])
    if excess > 0 and remaining > 0:
        leaving += rng.binomial(cohorts - leaving, min(1.0, excess / remaining))
    cohorts -= leaving
    events += _cells_2d(leaving, births, days[k] - timedelta(days=1), ExitReason.LEFT, spec)
    return int(leaving.sum())


def _draw_diagnoses(
    spec: ProjectionSpec,
    state: _State,
    rng: np.random.Generator,
    days: list[date],
    k: int,
    births: list[date],
    rates: list[float],
    fates: list[tuple[int, float]],
    previous: date,
    events: list[CellEvent],
) -> tuple[int, int]:
    """Diagnoses of a covered illness since the last lock, by cell. Inside the waiting period:
    refunded, the member leaves. After it: the case takes its fate (published after the lag,
    later when objected or appealed, or never)."""
    if k == 0:
        return 0, 0
    plan = spec.plan
    gap = (days[k] - previous).days
    ages = _ages_on(births, previous)
    age_bands = np.clip(_age_bands(ages), 0, len(rates) - 1)
    yearly = np.array(rates)[age_bands] / 100_000
    # Selection: members who have just declared their health claim less than the registry's
    # rate for their age; the effect wears off over the first years of membership.
    selection = np.array(
        [_selection(spec, (previous - _joined_on(spec, days, j)).days) for j in range(k)]
    )
    yearly_by_cell = np.minimum(1.0, selection[:, np.newaxis] * yearly[np.newaxis, :])
    chance = 1.0 - (1.0 - yearly_by_cell) ** (gap / DAYS_PER_YEAR)
    cohorts = state.covered[:k]  # the cohorts that have joined so far
    diagnosed = rng.binomial(cohorts, chance)
    # The share of the interval each cohort spends past its waiting period.
    covered_share = np.zeros(k)
    for j in range(k):
        last_waiting = waiting_period_last_day(
            _joined_on(spec, days, j), plan.coverage.waiting_days
        )
        covered_share[j] = min(1.0, max(0.0, (days[k] - max(previous, last_waiting)).days / gap))
    after_waiting = rng.binomial(diagnosed, covered_share[:, np.newaxis])
    in_waiting = diagnosed - after_waiting
    cohorts -= in_waiting
    events += _cells_2d(
        in_waiting,
        births,
        days[k] - timedelta(days=1),
        ExitReason.WAITING_PERIOD_DIAGNOSIS,
        spec,
    )
    # One multinomial draw per cell, as binomials in turn: each fate takes its share of the
    # cases not yet given one (the last takes the rest).
    undecided = after_waiting
    left_share = 1.0
    for i, (delay, share) in enumerate(fates):
        last = i == len(fates) - 1
        chance_of_fate = 1.0 if last or left_share <= share else share / left_share
        chosen = rng.binomial(undecided, chance_of_fate)
        undecided = undecided - chosen
        left_share -= share
        if delay < 0:
            continue  # denied or withdrawn: the member stays, nothing is paid
        paid_at = k + spec.assumptions.claim_lag_periods + delay
        cohorts -= chosen
        claimants = state.claimants.setdefault(paid_at, np.zeros_like(state.covered))
        claimants[:k] += chosen
        benefits = state.benefits.setdefault(paid_at, [])
        per_birth = chosen.sum(axis=0)
        for b in np.nonzero(per_birth)[0]:
            amount = plan.benefit_for_age(int(ages[b]))
            if amount is not None:
                benefits.append((amount, int(per_birth[b])))
    return int(diagnosed.sum()), int(in_waiting.sum())


def _selection(spec: ProjectionSpec, days_member: int) -> float:
    factors = spec.assumptions.selection_by_year
    year = max(0, days_member) // 365
    return factors[year] if year < len(factors) else 1.0


def _fates(a: Assumptions) -> list[tuple[int, float]]:
    """(extra periods before publication, share) of a reported covered case; -1: never paid.
    Reports of an illness the plan does not cover (`ineligible`) are not diagnoses here."""
    mix = a.mix
    total = 1.0 - mix.ineligible
    if total <= 0:
        raise InputError("projection.claim_scenario", "ineligible", "leaves no covered case")
    return [
        (0, (mix.approved + mix.incomplete) / total),
        (1, mix.objected / total),
        (2, mix.appealed / total),
        (-1, (mix.denied + mix.withdrawn) / total),
    ]


def _age_out(
    spec: ProjectionSpec,
    state: _State,
    births: list[date],
    day: date,
    events: list[CellEvent],
) -> int:
    """Members at the exit age by 00:00 on the publicity day leave (the engine does the same
    at the lock); a claimant's case is still paid."""
    limit = latest_birth_date_for_age(spec.plan.joining.exit_age_years, day)
    aged = np.array([b <= limit for b in births])
    count = 0
    for counts in (state.covered, *state.claimants.values()):
        count += int(counts[:, aged].sum())
        leaving = np.where(aged[np.newaxis, :], counts, 0)
        events += _cells_2d(leaving, births, day - timedelta(days=1), ExitReason.AGE_LIMIT, spec)
        counts[:, aged] = 0
    return count


def _debit(
    spec: ProjectionSpec,
    state: _State,
    rng: np.random.Generator,
    share_fen: int,
    sharing: date,
    k: int,
    births: list[date],
    events: list[CellEvent],
) -> tuple[int, int, int, int]:
    """(charged, subsidy, unpaid, removed) of the debit and its retries. Each join cohort's
    members have paid the same this year, so the cap splits their share alike."""
    assert state.paid_this_year is not None
    if sharing.year != state.paid_year:
        state.paid_year = sharing.year
        state.paid_this_year[:] = 0
        state.year_shares = 0
        state.year_charged = 0
    cap = spec.plan.sharing.annual_cap_fen
    per_cohort = state.covered[: k + 1].sum(axis=1) + sum(
        (c[: k + 1].sum(axis=1) for c in state.claimants.values()),
        start=np.zeros(k + 1, dtype=np.int64),
    )
    charge = np.zeros(k + 1, dtype=np.int64)
    subsidy = 0
    for j in range(k + 1):
        split = split_at_annual_cap(
            share_fen=share_fen,
            paid_this_year_fen=int(state.paid_this_year[j]),
            annual_cap_fen=cap,
        )
        charge[j] = split.charge_fen
        subsidy += int(per_cohort[j]) * split.subsidy_fen
    full_year = split_at_annual_cap(
        share_fen=share_fen, paid_this_year_fen=state.year_charged, annual_cap_fen=cap
    )
    state.year_charged += full_year.charge_fen
    state.year_shares += share_fen
    charged = int((per_cohort * charge).sum())
    # Failed debits, among members without a case waiting: the rest after the retries leave.
    a = spec.assumptions
    failed = rng.binomial(state.covered[: k + 1], a.debit_failure_rate)
    removed = failed - rng.binomial(failed, a.retry_recovery)
    unpaid = int((removed.sum(axis=1) * charge).sum())
    state.covered[: k + 1] -= removed
    state.paid_this_year[: k + 1] += charge
    last_retry = sharing + timedelta(days=spec.plan.sharing.debit_retry_days)
    events += _cells_2d(removed, births, last_retry, ExitReason.NON_PAYMENT, spec)
    return charged, subsidy, unpaid, int(removed.sum())


def _pay_out(
    spec: ProjectionSpec,
    state: _State,
    k: int,
    births: list[date],
    sharing: date,
    events: list[CellEvent],
) -> int:
    """The period's cases are paid once its money is in; their members leave."""
    claimants = state.claimants.pop(k, None)
    if claimants is None:
        return 0
    events += _cells_2d(claimants, births, sharing, ExitReason.PAID_OUT, spec)
    return int(claimants.sum())


def _cells(
    row: Counts,
    cohort: int,
    births: list[date],
    on: date,
    reason: ExitReason | None,
    spec: ProjectionSpec,
) -> list[CellEvent]:
    if not spec.record_events:
        return []
    return [
        CellEvent(cohort=cohort, birth_date=births[b], count=int(row[b]), on=on, reason=reason)
        for b in np.nonzero(row)[0]
    ]


def _cells_2d(
    counts: Counts, births: list[date], on: date, reason: ExitReason, spec: ProjectionSpec
) -> list[CellEvent]:
    if not spec.record_events:
        return []
    return [
        CellEvent(
            cohort=int(j), birth_date=births[b], count=int(counts[j, b]), on=on, reason=reason
        )
        for j, b in zip(*np.nonzero(counts), strict=True)
    ]
