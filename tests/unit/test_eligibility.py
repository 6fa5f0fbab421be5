"""Eligibility: who may join, which claims are covered, and every reason when not."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualaid.calendar import age_in_days, age_on
from mutualaid.eligibility import (
    ClaimDecision,
    ClaimFacts,
    JoinApplication,
    PriorClaim,
    Refusal,
    decide_claim,
    decide_join,
)
from mutualaid.membership import ExitReason, Member, MemberStatus
from mutualaid.plan import Plan

PROPERTY = settings(max_examples=50, deadline=None)
YOUNG_BENEFIT = 30_000_000  # 300,000 yuan
OLDER_BENEFIT = 10_000_000  # 100,000 yuan


def codes(decision: Any) -> list[Refusal]:
    return [reason.code for reason in decision.reasons]


# --- joining ----------------------------------------------------------------------------------

AS_OF = date(2026, 6, 1)


def application(**changes: Any) -> JoinApplication:
    base = JoinApplication(
        plan_id="chronic",
        birth_date=date(1990, 5, 1),
        chronic_groups=(1,),
        declaration_given=True,
    )
    return dataclasses.replace(base, **changes)


def test_an_adult_with_a_chronic_group_and_a_declaration_may_join(chronic: Plan) -> None:
    decision = decide_join(chronic, application(), as_of=AS_OF)
    assert decision.accepted
    assert decision.reasons == ()


@pytest.mark.parametrize(
    ("birth", "as_of", "accepted"),
    [
        (date(2026, 5, 2), date(2026, 6, 1), True),  # exactly 30 days old
        (date(2026, 5, 3), date(2026, 6, 1), False),  # 29 days old
        (date(2026, 6, 1), date(2026, 6, 1), False),  # born today
        (date(2024, 2, 29), date(2024, 3, 30), True),  # leap-day baby, 30 days old
        (date(2024, 2, 29), date(2024, 3, 29), False),  # leap-day baby, 29 days old
    ],
)
def test_joining_needs_an_age_of_at_least_30_days(
    chronic: Plan, birth: date, as_of: date, accepted: bool
) -> None:
    decision = decide_join(chronic, application(birth_date=birth), as_of=as_of)
    assert decision.accepted is accepted
    assert codes(decision) == ([] if accepted else [Refusal.TOO_YOUNG])


def test_an_applicant_born_after_the_joining_day_is_refused_as_too_young(chronic: Plan) -> None:
    decision = decide_join(chronic, application(birth_date=date(2026, 7, 1)), as_of=AS_OF)
    assert codes(decision) == [Refusal.TOO_YOUNG]
    assert "30 days" in decision.reasons[0].detail


@pytest.mark.parametrize(
    ("birth", "as_of", "accepted"),
    [
        (date(1967, 6, 1), date(2026, 6, 1), True),  # 59th birthday
        (date(1966, 6, 2), date(2026, 6, 1), True),  # 59 years and 364 days
        (date(1966, 6, 1), date(2026, 6, 1), False),  # 60th birthday
        (date(1950, 1, 1), date(2026, 6, 1), False),
        # Born on 29 February 1964: 59 on 28 February 2024, 60 on 29 February 2024.
        (date(1964, 2, 29), date(2024, 2, 28), True),
        (date(1964, 2, 29), date(2024, 2, 29), False),
    ],
)
def test_joining_stops_at_the_60th_birthday(
    chronic: Plan, birth: date, as_of: date, accepted: bool
) -> None:
    decision = decide_join(chronic, application(birth_date=birth), as_of=as_of)
    assert decision.accepted is accepted
    assert codes(decision) == ([] if accepted else [Refusal.TOO_OLD])


@pytest.mark.parametrize("groups", [(9,), (0,), (1, 9), (-1,)])
def test_joining_with_a_chronic_group_the_plan_does_not_list_is_refused(
    chronic: Plan, groups: tuple[int, ...]
) -> None:
    decision = decide_join(chronic, application(chronic_groups=groups), as_of=AS_OF)
    assert codes(decision) == [Refusal.UNKNOWN_CHRONIC_GROUP]
    unknown = sorted(set(groups) - set(range(1, 9)))
    assert str(unknown) in decision.reasons[0].detail


@pytest.mark.parametrize("groups", [(1,), (8,), (1, 2, 3, 4, 5, 6, 7, 8)])
def test_joining_with_listed_chronic_groups_is_accepted(
    chronic: Plan, groups: tuple[int, ...]
) -> None:
    assert decide_join(chronic, application(chronic_groups=groups), as_of=AS_OF).accepted


def test_joining_the_chronic_plan_without_a_chronic_group_is_refused(chronic: Plan) -> None:
    decision = decide_join(chronic, application(chronic_groups=()), as_of=AS_OF)
    assert codes(decision) == [Refusal.NO_CHRONIC_GROUP]


def test_joining_the_major_plan_needs_no_chronic_group(major: Plan) -> None:
    decision = decide_join(major, application(plan_id="major", chronic_groups=()), as_of=AS_OF)
    assert decision.accepted


@pytest.mark.parametrize("plan_name", ["chronic", "major"])
def test_joining_without_a_health_declaration_is_refused(
    request: pytest.FixtureRequest, plan_name: str
) -> None:
    plan: Plan = request.getfixturevalue(plan_name)
    decision = decide_join(
        plan, application(plan_id=plan_name, declaration_given=False), as_of=AS_OF
    )
    assert codes(decision) == [Refusal.NO_DECLARATION]
    assert decision.reasons[0].detail == "health declaration missing"


def test_joining_reports_every_reason_at_once(chronic: Plan) -> None:
    decision = decide_join(
        chronic,
        application(birth_date=date(1940, 1, 1), chronic_groups=(), declaration_given=False),
        as_of=AS_OF,
    )
    assert not decision.accepted
    assert codes(decision) == [Refusal.TOO_OLD, Refusal.NO_CHRONIC_GROUP, Refusal.NO_DECLARATION]


@PROPERTY
@given(
    st.dates(min_value=date(1940, 1, 1), max_value=date(2030, 12, 31)),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
)
def test_joining_is_accepted_exactly_from_30_days_to_59_years(
    chronic: Plan, birth: date, as_of: date
) -> None:
    decision = decide_join(chronic, application(birth_date=birth), as_of=as_of)
    old_enough = birth <= as_of and age_in_days(birth, as_of) >= 30
    young_enough = birth > as_of or age_on(birth, as_of) <= 59
    assert decision.accepted is (old_enough and young_enough)


# --- claims -----------------------------------------------------------------------------------

JOINED = date(2024, 1, 1)
TODAY = date(2026, 6, 1)


def member(**changes: Any) -> Member:
    base = Member(
        member_id=42,
        plan_id="chronic",
        birth_date=date(1990, 6, 15),
        join_date=JOINED,
        chronic_groups=(1,),
    )
    return dataclasses.replace(base, **changes)


def facts(**changes: Any) -> ClaimFacts:
    base = ClaimFacts(
        member_id=42,
        plan_id="chronic",
        condition="malignant tumour",
        diagnosis_date=date(2025, 3, 1),
    )
    return dataclasses.replace(base, **changes)


def test_a_covered_diagnosis_after_the_waiting_period_is_eligible_for_the_band_sum(
    chronic: Plan,
) -> None:
    decision = decide_claim(chronic, member(), facts(), as_of=TODAY)
    assert decision == ClaimDecision(
        reasons=(), age_at_diagnosis=34, benefit_fen=YOUNG_BENEFIT, refund_and_exit=False
    )
    assert decision.eligible


@pytest.mark.parametrize(
    "joined", [date(2026, 1, 1), date(2024, 1, 1), date(2023, 12, 15), date(2024, 2, 29)]
)
def test_diagnosis_on_the_90th_day_is_in_the_waiting_period_and_the_91st_is_covered(
    chronic: Plan, joined: date
) -> None:
    someone = member(join_date=joined)
    day_90 = joined + timedelta(days=90)
    waiting = decide_claim(chronic, someone, facts(diagnosis_date=day_90), as_of=TODAY)
    assert codes(waiting) == [Refusal.WAITING_PERIOD]
    assert day_90.isoformat() in waiting.reasons[0].detail
    assert waiting.refund_and_exit is True
    covered = decide_claim(
        chronic, someone, facts(diagnosis_date=day_90 + timedelta(days=1)), as_of=TODAY
    )
    assert covered.eligible
    assert covered.refund_and_exit is False
    assert covered.benefit_fen == YOUNG_BENEFIT


def test_waiting_period_for_a_january_1st_joiner_ends_on_april_1st(chronic: Plan) -> None:
    someone = member(join_date=date(2026, 1, 1))
    april_1 = decide_claim(chronic, someone, facts(diagnosis_date=date(2026, 4, 1)), as_of=TODAY)
    april_2 = decide_claim(chronic, someone, facts(diagnosis_date=date(2026, 4, 2)), as_of=TODAY)
    assert codes(april_1) == [Refusal.WAITING_PERIOD]
    assert april_2.eligible


def test_diagnosis_on_the_joining_day_is_in_the_waiting_period(chronic: Plan) -> None:
    decision = decide_claim(chronic, member(), facts(diagnosis_date=JOINED), as_of=TODAY)
    assert codes(decision) == [Refusal.WAITING_PERIOD]
    assert decision.refund_and_exit is True


def test_waiting_period_diagnosis_on_the_major_plan_is_refused_without_refund(
    major: Plan,
) -> None:
    decision = decide_claim(
        major,
        member(plan_id="major"),
        facts(plan_id="major", diagnosis_date=JOINED + timedelta(days=30)),
        as_of=TODAY,
    )
    assert codes(decision) == [Refusal.WAITING_PERIOD]
    assert decision.refund_and_exit is False


def test_an_accident_in_the_waiting_period_is_covered_on_the_major_plan(major: Plan) -> None:
    decision = decide_claim(
        major,
        member(plan_id="major"),
        facts(
            plan_id="major",
            condition="severe burns",
            diagnosis_date=JOINED + timedelta(days=30),
            accident=True,
        ),
        as_of=TODAY,
    )
    assert decision.eligible
    assert decision.benefit_fen == YOUNG_BENEFIT


def test_an_accident_in_the_waiting_period_is_still_waiting_on_the_chronic_plan(
    chronic: Plan,
) -> None:
    decision = decide_claim(
        chronic,
        member(),
        facts(diagnosis_date=JOINED + timedelta(days=30), accident=True),
        as_of=TODAY,
    )
    assert codes(decision) == [Refusal.WAITING_PERIOD]
    assert decision.refund_and_exit is True


def test_no_refund_when_the_waiting_period_is_not_the_only_reason(chronic: Plan) -> None:
    decision = decide_claim(
        chronic,
        member(),
        facts(condition="diabetes", diagnosis_date=JOINED + timedelta(days=10)),
        as_of=TODAY,
    )
    assert set(codes(decision)) == {Refusal.WAITING_PERIOD, Refusal.CONDITION_NOT_COVERED}
    assert decision.refund_and_exit is False


@pytest.mark.parametrize(
    ("birth", "diagnosed", "age", "benefit"),
    [
        (date(1986, 7, 10), date(2026, 1, 9), 39, YOUNG_BENEFIT),
        (date(1986, 7, 10), date(2025, 7, 10), 39, YOUNG_BENEFIT),  # 39th birthday
        (date(1986, 7, 10), date(2026, 7, 9), 39, YOUNG_BENEFIT),  # the day before turning 40
        (date(1986, 7, 10), date(2026, 7, 10), 40, OLDER_BENEFIT),  # 40th birthday
        (date(1980, 2, 29), date(2020, 2, 28), 39, YOUNG_BENEFIT),  # leap-day birth, before
        (date(1980, 2, 29), date(2020, 2, 29), 40, OLDER_BENEFIT),  # leap-day 40th birthday
        (date(1966, 7, 11), date(2026, 7, 10), 59, OLDER_BENEFIT),
    ],
)
def test_the_benefit_is_fixed_by_the_age_on_the_diagnosis_date(
    chronic: Plan, birth: date, diagnosed: date, age: int, benefit: int
) -> None:
    someone = member(birth_date=birth, join_date=date(2019, 1, 1))
    decision = decide_claim(
        chronic, someone, facts(diagnosis_date=diagnosed), as_of=date(2026, 12, 31)
    )
    assert decision.eligible
    assert decision.age_at_diagnosis == age
    assert decision.benefit_fen == benefit


def test_a_diagnosis_at_60_has_no_benefit_band(chronic: Plan) -> None:
    someone = member(birth_date=date(1966, 7, 10), join_date=date(2019, 1, 1))
    decision = decide_claim(
        chronic, someone, facts(diagnosis_date=date(2026, 7, 10)), as_of=date(2026, 12, 31)
    )
    assert codes(decision) == [Refusal.NO_BENEFIT_BAND]
    assert decision.age_at_diagnosis == 60
    assert decision.benefit_fen is None
    assert decision.refund_and_exit is False


def test_a_claim_for_an_unknown_member_is_refused(chronic: Plan) -> None:
    decision = decide_claim(chronic, None, facts(), as_of=TODAY)
    assert decision == ClaimDecision(
        reasons=decision.reasons, age_at_diagnosis=None, benefit_fen=None, refund_and_exit=False
    )
    assert codes(decision) == [Refusal.UNKNOWN_MEMBER]
    assert "42" in decision.reasons[0].detail


def test_a_claim_for_an_unknown_member_still_reports_the_uncovered_condition(
    chronic: Plan,
) -> None:
    decision = decide_claim(chronic, None, facts(condition="asthma"), as_of=TODAY)
    assert codes(decision) == [Refusal.CONDITION_NOT_COVERED, Refusal.UNKNOWN_MEMBER]


def test_a_member_of_another_plan_is_refused(chronic: Plan) -> None:
    decision = decide_claim(chronic, member(plan_id="major"), facts(), as_of=TODAY)
    assert codes(decision) == [Refusal.OTHER_PLAN]
    assert "major" in decision.reasons[0].detail


def test_a_claim_filed_under_another_plan_is_refused(chronic: Plan) -> None:
    decision = decide_claim(chronic, member(), facts(plan_id="major"), as_of=TODAY)
    assert codes(decision) == [Refusal.OTHER_PLAN]


def test_a_diagnosis_dated_after_today_is_refused(chronic: Plan) -> None:
    decision = decide_claim(
        chronic, member(), facts(diagnosis_date=TODAY + timedelta(days=1)), as_of=TODAY
    )
    assert codes(decision) == [Refusal.DIAGNOSIS_IN_FUTURE]
    assert TODAY.isoformat() in decision.reasons[0].detail


def test_a_diagnosis_dated_today_is_accepted(chronic: Plan) -> None:
    decision = decide_claim(chronic, member(), facts(diagnosis_date=TODAY), as_of=TODAY)
    assert decision.eligible


@pytest.mark.parametrize("condition", ["diabetes", "stroke sequelae", "", "malignant"])
def test_a_condition_the_plan_does_not_cover_is_refused(chronic: Plan, condition: str) -> None:
    decision = decide_claim(chronic, member(), facts(condition=condition), as_of=TODAY)
    assert codes(decision) == [Refusal.CONDITION_NOT_COVERED]
    assert decision.benefit_fen == YOUNG_BENEFIT  # the band is still reported


@pytest.mark.parametrize(
    "condition", ["Malignant Tumour", "  malignant tumour  ", "MALIGNANT TUMOUR"]
)
def test_the_condition_matches_regardless_of_case_and_spaces(chronic: Plan, condition: str) -> None:
    assert decide_claim(chronic, member(), facts(condition=condition), as_of=TODAY).eligible


def test_a_diagnosis_before_joining_is_not_covered_and_not_a_waiting_period_case(
    chronic: Plan,
) -> None:
    decision = decide_claim(
        chronic, member(), facts(diagnosis_date=JOINED - timedelta(days=1)), as_of=TODAY
    )
    assert codes(decision) == [Refusal.NOT_A_MEMBER_AT_DIAGNOSIS]
    assert decision.refund_and_exit is False


def test_a_paid_out_member_is_refused(chronic: Plan) -> None:
    someone = member(
        status=MemberStatus.PAID_OUT, exit_date=date(2025, 1, 1), exit_reason=ExitReason.PAID_OUT
    )
    decision = decide_claim(chronic, someone, facts(), as_of=TODAY)
    assert codes(decision) == [Refusal.ALREADY_PAID_OUT]


@pytest.mark.parametrize(
    "exit_date", [date(2025, 2, 28), date(2025, 3, 1), None], ids=["before", "same-day", "unknown"]
)
def test_a_member_who_exited_before_or_on_the_diagnosis_day_is_refused(
    chronic: Plan, exit_date: date | None
) -> None:
    someone = member(status=MemberStatus.EXITED, exit_date=exit_date, exit_reason=ExitReason.LEFT)
    decision = decide_claim(chronic, someone, facts(diagnosis_date=date(2025, 3, 1)), as_of=TODAY)
    assert codes(decision) == [Refusal.MEMBER_EXITED]
    expected = exit_date.isoformat() if exit_date else "earlier"
    assert expected in decision.reasons[0].detail


def test_a_member_who_exited_after_a_covered_diagnosis_may_still_claim(chronic: Plan) -> None:
    someone = member(
        status=MemberStatus.EXITED, exit_date=date(2025, 6, 1), exit_reason=ExitReason.AGE_LIMIT
    )
    decision = decide_claim(chronic, someone, facts(diagnosis_date=date(2025, 3, 1)), as_of=TODAY)
    assert decision.eligible


def test_a_second_claim_for_the_same_diagnosis_is_a_duplicate(chronic: Plan) -> None:
    prior = PriorClaim(
        claim_id="C-7",
        member_id=42,
        condition="Malignant Tumour ",
        diagnosis_date=date(2025, 3, 1),
    )
    decision = decide_claim(chronic, member(), facts(), prior_claims=iter([prior]), as_of=TODAY)
    assert codes(decision) == [Refusal.DUPLICATE]
    assert "C-7" in decision.reasons[0].detail


@pytest.mark.parametrize(
    "change",
    [
        {"member_id": 43},
        {"diagnosis_date": date(2025, 3, 2)},
        {"condition": "diabetes"},
    ],
)
def test_a_prior_claim_that_differs_is_not_a_duplicate(
    chronic: Plan, change: dict[str, Any]
) -> None:
    prior = dataclasses.replace(
        PriorClaim(
            claim_id="C-7",
            member_id=42,
            condition="malignant tumour",
            diagnosis_date=date(2025, 3, 1),
        ),
        **change,
    )
    assert decide_claim(chronic, member(), facts(), prior_claims=[prior], as_of=TODAY).eligible


def test_a_claim_reports_every_reason_at_once(chronic: Plan) -> None:
    someone = member(status=MemberStatus.PAID_OUT, plan_id="major")
    decision = decide_claim(
        chronic,
        someone,
        facts(condition="asthma", diagnosis_date=TODAY + timedelta(days=3)),
        as_of=TODAY,
    )
    assert codes(decision) == [
        Refusal.DIAGNOSIS_IN_FUTURE,
        Refusal.CONDITION_NOT_COVERED,
        Refusal.OTHER_PLAN,
        Refusal.ALREADY_PAID_OUT,
    ]
    assert not decision.eligible


@PROPERTY
@given(st.integers(min_value=0, max_value=800))
def test_a_claim_is_in_the_waiting_period_exactly_for_the_first_90_days(
    chronic: Plan, offset: int
) -> None:
    diagnosed = JOINED + timedelta(days=offset)
    decision = decide_claim(chronic, member(), facts(diagnosis_date=diagnosed), as_of=TODAY)
    waiting = offset <= 90
    assert (Refusal.WAITING_PERIOD in codes(decision)) is waiting
    assert decision.eligible is (not waiting)
    assert decision.refund_and_exit is waiting


@PROPERTY
@given(
    st.dates(min_value=date(1960, 1, 1), max_value=date(2000, 12, 31)),
    st.dates(min_value=date(2019, 4, 2), max_value=date(2026, 6, 1)),
)
def test_the_benefit_is_300000_yuan_up_to_39_and_100000_yuan_from_40_to_59(
    chronic: Plan, birth: date, diagnosed: date
) -> None:
    someone = member(birth_date=birth, join_date=date(2019, 1, 1))
    decision = decide_claim(chronic, someone, facts(diagnosis_date=diagnosed), as_of=TODAY)
    age = age_on(birth, diagnosed)
    assert decision.age_at_diagnosis == age
    if age <= 39:
        assert decision.benefit_fen == YOUNG_BENEFIT
    elif age <= 59:
        assert decision.benefit_fen == OLDER_BENEFIT
    else:
        assert decision.benefit_fen is None
        assert codes(decision) == [Refusal.NO_BENEFIT_BAND]
    assert decision.eligible is (age <= 59)
