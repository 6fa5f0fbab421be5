"""Plan files: both shipped plans load; every malformed variant is a PlanError naming the field.

Variants are built by editing the text of the shipped chronic.toml, so each test changes one
thing and the rest stays a real plan.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from fractions import Fraction

import pytest

from mutualaid.errors import InputError, PlanError
from mutualaid.plan import BenefitBand, Plan, parse_plan


def edit(text: str, old: str, new: str) -> str:
    """Replace one exact, unique piece of the plan text (fails loudly if the file changed)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the plan"
    return text.replace(old, new)


def without_chronic_groups(text: str) -> str:
    start = text.index("[[chronic_groups]]")
    return text[:start] + text[text.index("[coverage]") :]


# --- the shipped plans ------------------------------------------------------------------------


def test_chronic_plan_loads_with_the_published_rules(chronic: Plan) -> None:
    assert chronic.id == "chronic"
    assert chronic.rules_version == "chronic-2020.1"
    assert chronic.effective_from == date(2020, 5, 13)
    assert chronic.joining.min_age_days == 30
    assert chronic.joining.max_age_years == 59
    assert chronic.joining.exit_age_years == 60
    assert chronic.joining.require_chronic_group is True
    assert chronic.joining.require_declaration is True
    assert chronic.coverage.covered_conditions == frozenset({"malignant tumour"})
    assert chronic.coverage.waiting_days == 90
    assert chronic.coverage.accident_exempt_from_waiting is False
    assert chronic.coverage.refund_on_waiting_period_diagnosis is True
    assert chronic.coverage.age_basis == "diagnosis"
    assert chronic.benefits == (
        BenefitBand(min_age=0, max_age=39, amount_fen=30_000_000),
        BenefitBand(min_age=40, max_age=59, amount_fen=10_000_000),
    )


def test_chronic_plan_has_eight_chronic_groups_numbered_1_to_8(chronic: Plan) -> None:
    assert chronic.chronic_group_ids == frozenset(range(1, 9))
    assert [g.id for g in chronic.chronic_groups] == list(range(1, 9))
    three_highs = chronic.chronic_groups[0]
    assert three_highs.name == "three highs"
    assert three_highs.conditions == ("hypertension", "diabetes", "hyperlipidaemia")


def test_chronic_plan_sharing_claims_and_jury_rules_are_exact(chronic: Plan) -> None:
    sharing = chronic.sharing
    assert sharing.fee_rate == Fraction(8, 100)
    assert sharing.annual_cap_fen == 18_800
    assert sharing.per_case_cap_enabled is False
    assert sharing.per_case_cap_fen == 10
    assert sharing.objection_window_days == 3
    assert sharing.debit_retry_days == 5
    assert sharing.payout_deadline_days == 7
    assert chronic.claims.appeal_deadline_days == 15
    assert chronic.claims.investigation_sla_days == 35
    assert chronic.jury.min_valid_votes == 1000
    assert chronic.jury.approve_above == Fraction(1, 2)
    assert chronic.jury.juror_min_age == 18
    assert chronic.jury.juror_min_tenure_days == 30
    # Money is integer fen and rates are exact fractions: never floats.
    assert type(sharing.annual_cap_fen) is int
    assert type(sharing.fee_rate) is Fraction


@pytest.mark.parametrize(
    ("age", "amount"),
    [(0, 30_000_000), (39, 30_000_000), (40, 10_000_000), (59, 10_000_000), (60, None)],
)
def test_benefit_for_age_follows_the_bands_at_their_edges(
    chronic: Plan, age: int, amount: int | None
) -> None:
    assert chronic.benefit_for_age(age) == amount


def test_major_plan_loads_as_a_second_pool_with_no_chronic_groups(major: Plan) -> None:
    assert major.id == "major"
    assert major.rules_version == "major-2019.1"
    assert major.effective_from == date(2018, 10, 16)
    assert major.chronic_groups == ()
    assert major.chronic_group_ids == frozenset()
    assert major.joining.require_chronic_group is False
    assert major.coverage.accident_exempt_from_waiting is True
    assert major.coverage.refund_on_waiting_period_diagnosis is False
    assert len(major.coverage.covered_conditions) == 12
    assert {"malignant tumour", "stroke sequelae"} <= major.coverage.covered_conditions
    assert major.benefit_for_age(39) == 30_000_000


def test_a_copy_of_chronic_with_a_new_rules_version_loads_with_only_that_changed(
    chronic: Plan, chronic_text: str
) -> None:
    text = edit(
        chronic_text, 'rules_version = "chronic-2020.1"', 'rules_version = "chronic-2021.1"'
    )
    text = edit(text, "effective_from = 2020-05-13", "effective_from = 2021-01-01")
    text = edit(text, 'fee_rate_percent = "8"', 'fee_rate_percent = "6.5"')
    revised = parse_plan(text)
    assert revised.rules_version == "chronic-2021.1"
    assert revised.effective_from == date(2021, 1, 1)
    assert revised.sharing.fee_rate == Fraction(13, 200)
    assert revised == dataclasses.replace(
        chronic,
        rules_version="chronic-2021.1",
        effective_from=date(2021, 1, 1),
        sharing=dataclasses.replace(chronic.sharing, fee_rate=Fraction(13, 200)),
    )


def test_benefit_bands_written_in_any_order_are_sorted_by_age(
    chronic: Plan, chronic_text: str
) -> None:
    young = '[[benefits]]\nmin_age = 0\nmax_age = 39\namount = "300000"\n'
    old = '[[benefits]]\nmin_age = 40\nmax_age = 59\namount = "100000"\n'
    swapped = edit(chronic_text, young + "\n" + old, old + "\n" + young)
    assert parse_plan(swapped).benefits == chronic.benefits


def test_comments_and_whitespace_do_not_change_the_plan(chronic: Plan, chronic_text: str) -> None:
    stripped = re.sub(r"(?m)^#.*\n", "", chronic_text)
    assert parse_plan("\n\n" + stripped + "\n# trailing\n") == chronic


# --- malformed plans --------------------------------------------------------------------------

# (what to replace, replacement, the field the error must name, words from the reason)
BROKEN = [
    # unknown keys and tables
    ("[sharing]\n", '[sharing]\nsurcharge = "1"\n', "sharing.surcharge", "not a known setting"),
    ("[plan]\n", '[plan]\nowner = "x"\n', "plan.owner", "not a known setting"),
    ("[jury]\n", "[extras]\nflag = true\n\n[jury]\n", "extras", "not a known setting"),
    ("min_age = 40\n", "min_age = 40\nnote = 1\n", "benefits[1].note", "not a known setting"),
    ("id = 8\n", "id = 8\ncolour = 1\n", "chronic_groups[7].colour", "not a known setting"),
    # wrong types
    ('fee_rate_percent = "8"', "fee_rate_percent = 8", "sharing.fee_rate_percent", "as text"),
    ('fee_rate_percent = "8"', "fee_rate_percent = 8.0", "sharing.fee_rate_percent", "as text"),
    ('annual_cap = "188"', "annual_cap = 188", "sharing.annual_cap", "yuan amount"),
    ('annual_cap = "188"', "annual_cap = 188.0", "sharing.annual_cap", "yuan amount"),
    ('amount = "300000"', "amount = 300000", "benefits[0].amount", "yuan amount"),
    ("waiting_days = 90", 'waiting_days = "90"', "coverage.waiting_days", "must be a int"),
    ("waiting_days = 90", "waiting_days = 90.0", "coverage.waiting_days", "must be a int"),
    ("waiting_days = 90", "waiting_days = true", "coverage.waiting_days", "must be a int"),
    (
        "require_declaration = true",
        'require_declaration = "yes"',
        "joining.require_declaration",
        "must be a bool",
    ),
    (
        "require_declaration = true",
        "require_declaration = 1",
        "joining.require_declaration",
        "must be a bool",
    ),
    (
        "effective_from = 2020-05-13",
        'effective_from = "2020-05-13"',
        "plan.effective_from",
        "must be a date",
    ),
    (
        "effective_from = 2020-05-13",
        "effective_from = 2020-05-13T00:00:00",
        "plan.effective_from",
        "must be a date",
    ),
    ('id = "chronic"', "id = 7", "plan.id", "must be a str"),
    (
        'covered_conditions = ["malignant tumour"]',
        'covered_conditions = "malignant tumour"',
        "coverage.covered_conditions",
        "list of names",
    ),
    (
        'covered_conditions = ["malignant tumour"]',
        'covered_conditions = ["malignant tumour", ""]',
        "coverage.covered_conditions",
        "list of names",
    ),
    # missing keys and tables
    ("waiting_days = 90\n", "", "coverage.waiting_days", "is missing"),
    ('rules_version = "chronic-2020.1"\n', "", "plan.rules_version", "is missing"),
    ('annual_cap = "188"\n', "", "sharing.annual_cap", "is missing"),
    ('amount = "100000"\n', "", "benefits[1].amount", "is missing"),
    ("[jury]\n", "[jury_rules]\n", "jury", "is missing"),
    # inconsistent rules
    ("min_age = 40", "min_age = 39", "benefits.min_age", "age bands overlap"),
    ("min_age = 40", "min_age = 0", "benefits.min_age", "age bands overlap"),
    ("max_age = 39", "max_age = -1", "benefits[0].max_age", "must not be negative"),
    ("max_age = 59", "max_age = 30", "benefits[1].max_age", "is below min_age"),
    ('amount = "100000"', 'amount = "0"', "benefits[1].amount", "must be positive"),
    ('amount = "100000"', 'amount = "-100000"', "benefits[1].amount", "must not be negative"),
    ('amount = "100000"', 'amount = "100000.001"', "benefits[1].amount", "fraction of a fen"),
    ('annual_cap = "188"', 'annual_cap = "1.88e2"', "sharing.annual_cap", "not a yuan amount"),
    ("exit_age_years = 60", "exit_age_years = 59", "joining.exit_age_years", "max_age_years"),
    (
        "objection_window_days = 3",
        "objection_window_days = 7",
        "sharing.objection_window_days",
        "before the sharing day",
    ),
    ("min_valid_votes = 1000", "min_valid_votes = 0", "jury.min_valid_votes", "at least 1"),
    ("id = 8\n", "id = 7\n", "chronic_groups.id", "must be unique"),
    ('id = "chronic"', 'id = "chronic plan"', "plan.id", "letters, digits"),
    ('id = "chronic"', 'id = ""', "plan.id", "letters, digits"),
    ('age_basis = "diagnosis"', 'age_basis = "joining"', "coverage.age_basis", "must be one of"),
    (
        'covered_conditions = ["malignant tumour"]',
        "covered_conditions = []",
        "coverage.covered_conditions",
        "at least one condition",
    ),
    # negative counts
    ("waiting_days = 90", "waiting_days = -1", "coverage.waiting_days", "must not be negative"),
    ("min_age_days = 30", "min_age_days = -30", "joining.min_age_days", "must not be negative"),
    (
        "min_valid_votes = 1000",
        "min_valid_votes = -5",
        "jury.min_valid_votes",
        "must not be negative",
    ),
    (
        "debit_retry_days = 5",
        "debit_retry_days = -1",
        "sharing.debit_retry_days",
        "must not be negative",
    ),
    ("min_age = 40", "min_age = -40", "benefits[1].min_age", "must not be negative"),
    # bad percentages
    ('fee_rate_percent = "8"', 'fee_rate_percent = "108"', "sharing.fee_rate_percent", "0 and 100"),
    ('fee_rate_percent = "8"', 'fee_rate_percent = "-1"', "sharing.fee_rate_percent", "0 and 100"),
    ('fee_rate_percent = "8"', 'fee_rate_percent = "NaN"', "sharing.fee_rate_percent", "0 and 100"),
    ('fee_rate_percent = "8"', 'fee_rate_percent = "Infinity"', "sharing.fee_rate_percent", "100"),
    (
        'fee_rate_percent = "8"',
        'fee_rate_percent = "eight"',
        "sharing.fee_rate_percent",
        "not a number",
    ),
    ('fee_rate_percent = "8"', 'fee_rate_percent = ""', "sharing.fee_rate_percent", "not a number"),
    (
        'approve_above_percent = "50"',
        'approve_above_percent = "100.5"',
        "jury.approve_above_percent",
        "0 and 100",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    BROKEN,
    ids=[f"{field}-{new.strip()[:30]}" for _, new, field, _ in BROKEN],
)
def test_a_broken_plan_raises_plan_error_naming_the_field(
    chronic_text: str, old: str, new: str, field: str, reason: str
) -> None:
    text = edit(chronic_text, old, new)
    with pytest.raises(PlanError) as caught:
        parse_plan(text)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}=")
    assert reason in caught.value.reason
    assert "\n" not in str(caught.value)


def test_a_setting_where_a_table_belongs_raises_plan_error(chronic_text: str) -> None:
    text = 'sharing = "none"\n' + edit(chronic_text, "[sharing]\n", "[old_sharing]\n")
    with pytest.raises(PlanError) as caught:
        parse_plan(text)
    assert caught.value.field == "sharing"
    assert caught.value.reason == "must be a table"


def test_a_plan_that_requires_a_chronic_group_must_list_groups(chronic_text: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(without_chronic_groups(chronic_text))
    assert caught.value.field == "chronic_groups"


def test_a_plan_without_chronic_groups_loads_when_none_are_required(chronic_text: str) -> None:
    text = edit(
        without_chronic_groups(chronic_text),
        "require_chronic_group = true",
        "require_chronic_group = false",
    )
    plan = parse_plan(text)
    assert plan.chronic_groups == ()
    assert plan.joining.require_chronic_group is False


@pytest.mark.parametrize(
    "broken",
    ["[sharing\nfee_rate_percent = 8\n", 'fee_rate_percent = "8\n', "x = = 1\n", "[plan]\n"],
)
def test_malformed_toml_raises_plan_error_naming_the_source(chronic_text: str, broken: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(chronic_text + "\n" + broken, source="chronic.toml")
    assert caught.value.field == "chronic.toml"
    assert caught.value.reason == "is not valid TOML"
    assert "\n" not in str(caught.value)


def test_an_empty_file_is_a_plan_error_for_the_missing_plan_table() -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan("")
    assert caught.value.field == "plan"
    assert caught.value.reason == "is missing"


def test_plan_error_is_an_input_error_and_a_value_error() -> None:
    assert issubclass(PlanError, InputError)
    assert issubclass(PlanError, ValueError)
