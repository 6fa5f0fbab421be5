"""Plan rules, loaded from a versioned TOML plan file.

Each plan is its own pool. Everything the program's rules leave to policy lives in the plan
file, so a second plan (or a new rules version) loads with no code change. Parsing is pure:
the caller reads the file and passes its text.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from itertools import pairwise
from typing import Any, TypeVar

from mutualaid.errors import PlanError
from mutualaid.money import Fen, parse_yuan

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChronicGroup:
    id: int
    name: str
    conditions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BenefitBand:
    """The fixed lump sum paid for a diagnosis at an age in [min_age, max_age]."""

    min_age: int
    max_age: int
    amount_fen: Fen


@dataclass(frozen=True, slots=True, kw_only=True)
class JoiningRules:
    min_age_days: int
    max_age_years: int
    exit_age_years: int
    require_chronic_group: bool
    require_declaration: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageRules:
    covered_conditions: frozenset[str]
    waiting_days: int
    accident_exempt_from_waiting: bool
    refund_on_waiting_period_diagnosis: bool
    age_basis: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SharingRules:
    fee_rate: Fraction
    annual_cap_fen: Fen
    per_case_cap_enabled: bool
    per_case_cap_fen: Fen
    objection_window_days: int
    debit_retry_days: int
    payout_deadline_days: int

    @property
    def case_cap_fen(self) -> Fen | None:
        """The most one case may cost a member, or None when the plan has no per-case cap."""
        return self.per_case_cap_fen if self.per_case_cap_enabled else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRules:
    materials_deadline_days: int
    review_sla_days: int
    investigation_sla_days: int
    appeal_deadline_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JuryRules:
    min_valid_votes: int
    approve_above: Fraction
    juror_min_age: int
    juror_min_tenure_days: int
    voting_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    id: str
    name: str
    rules_version: str
    effective_from: date
    joining: JoiningRules
    chronic_groups: tuple[ChronicGroup, ...]
    coverage: CoverageRules
    benefits: tuple[BenefitBand, ...]
    sharing: SharingRules
    claims: ClaimRules
    jury: JuryRules

    def benefit_for_age(self, age: int) -> Fen | None:
        """The lump sum for a diagnosis at this age, or None outside every band."""
        for band in self.benefits:
            if band.min_age <= age <= band.max_age:
                return band.amount_fen
        return None

    @property
    def chronic_group_ids(self) -> frozenset[int]:
        return frozenset(group.id for group in self.chronic_groups)


_AGE_BASES = frozenset({"diagnosis"})


def parse_plan(text: str, *, source: str = "plan") -> Plan:
    """Parse and check a plan file's text. Raises PlanError naming the field and the value."""
    return _plan(_document(text, source))


def plan_with_changes(text: str, changes: Mapping[str, str], *, source: str = "plan") -> Plan:
    """A plan file's rules with some settings changed, for a what-if (nothing is written).
    A setting is named by its key (`waiting_days`) or `section.key` where a key is in more
    than one section; the value is read as the file would hold it, and the changed plan is
    checked as a whole file is.

    >>> from importlib import resources
    >>> text = (resources.files("mutualaid.plans") / "chronic.toml").read_text()
    >>> plan_with_changes(text, {"waiting_days": "180"}).coverage.waiting_days
    180
    """
    doc = _document(text, source)
    for name, value in changes.items():
        section, key = _setting(doc, name)
        current = doc[section][key]
        doc[section][key] = value if isinstance(current, str) else _literal(name, value)
    return _plan(doc)


def _document(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(source, _first_line(str(exc)), "is not valid TOML") from None


def _setting(doc: dict[str, Any], name: str) -> tuple[str, str]:
    """The (section, key) a what-if setting names; only plain settings of a section."""
    if "." in name:
        section, _, key = name.partition(".")
        found = [section] if isinstance(doc.get(section), dict) and key in doc[section] else []
    else:
        key = name
        found = [s for s, table in doc.items() if isinstance(table, dict) and key in table]
    if not found or isinstance(doc[found[0]][key], (dict, list)):
        raise PlanError("set", name, "is not a setting of this plan")
    if len(found) > 1:
        raise PlanError("set", name, f"is in several sections ({', '.join(found)}): name one")
    return found[0], key


def _literal(name: str, value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        raise PlanError(name, value, "is not a number, true/false or a date") from None


def _plan(doc: dict[str, Any]) -> Plan:
    root = _Table(doc, "")
    head = root.table("plan")
    plan_id = head.get("id", str)
    if not plan_id or not plan_id.replace("-", "").replace("_", "").isalnum():
        raise PlanError("plan.id", plan_id, "must be letters, digits, '-' or '_'")
    joining = _joining(root.table("joining"))
    groups = tuple(_group(t) for t in root.tables("chronic_groups", required=False))
    if joining.require_chronic_group and not groups:
        raise PlanError("chronic_groups", [], "a plan that requires a chronic group must list them")
    if len({g.id for g in groups}) != len(groups):
        raise PlanError("chronic_groups.id", [g.id for g in groups], "ids must be unique")
    coverage = _coverage(root.table("coverage"))
    benefits = tuple(sorted((_band(t) for t in root.tables("benefits")), key=lambda b: b.min_age))
    for lower, upper in pairwise(benefits):
        if upper.min_age <= lower.max_age:
            raise PlanError("benefits.min_age", upper.min_age, "age bands overlap")
    plan = Plan(
        id=plan_id,
        name=head.get("name", str),
        rules_version=head.get("rules_version", str),
        effective_from=head.get("effective_from", date),
        joining=joining,
        chronic_groups=groups,
        coverage=coverage,
        benefits=benefits,
        sharing=_sharing(root.table("sharing")),
        claims=_claims(root.table("claims")),
        jury=_jury(root.table("jury")),
    )
    head.done()
    root.done()
    return plan


def _joining(t: _Table) -> JoiningRules:
    rules = JoiningRules(
        min_age_days=t.count("min_age_days"),
        max_age_years=t.count("max_age_years"),
        exit_age_years=t.count("exit_age_years"),
        require_chronic_group=t.get("require_chronic_group", bool),
        require_declaration=t.get("require_declaration", bool),
    )
    if rules.exit_age_years <= rules.max_age_years:
        raise PlanError("joining.exit_age_years", rules.exit_age_years, "must exceed max_age_years")
    t.done()
    return rules


def _group(t: _Table) -> ChronicGroup:
    group = ChronicGroup(
        id=t.count("id"),
        name=t.get("name", str),
        conditions=tuple(t.strings("conditions")),
    )
    t.done()
    return group


def _coverage(t: _Table) -> CoverageRules:
    conditions = t.strings("covered_conditions")
    if not conditions:
        raise PlanError("coverage.covered_conditions", [], "must name at least one condition")
    basis = t.get("age_basis", str)
    if basis not in _AGE_BASES:
        raise PlanError("coverage.age_basis", basis, f"must be one of {sorted(_AGE_BASES)}")
    rules = CoverageRules(
        covered_conditions=frozenset(c.lower() for c in conditions),
        waiting_days=t.count("waiting_days"),
        accident_exempt_from_waiting=t.get("accident_exempt_from_waiting", bool),
        refund_on_waiting_period_diagnosis=t.get("refund_on_waiting_period_diagnosis", bool),
        age_basis=basis,
    )
    t.done()
    return rules


def _band(t: _Table) -> BenefitBand:
    band = BenefitBand(
        min_age=t.count("min_age"), max_age=t.count("max_age"), amount_fen=t.yuan("amount")
    )
    if band.max_age < band.min_age:
        raise PlanError(t.name("max_age"), band.max_age, "is below min_age")
    if band.amount_fen == 0:
        raise PlanError(t.name("amount"), "0", "a benefit must be positive")
    t.done()
    return band


def _sharing(t: _Table) -> SharingRules:
    rules = SharingRules(
        fee_rate=t.percent("fee_rate_percent"),
        annual_cap_fen=t.yuan("annual_cap"),
        per_case_cap_enabled=t.get("per_case_cap_enabled", bool),
        per_case_cap_fen=t.yuan("per_case_cap"),
        objection_window_days=t.count("objection_window_days"),
        debit_retry_days=t.count("debit_retry_days"),
        payout_deadline_days=t.count("payout_deadline_days"),
    )
    if rules.objection_window_days >= 7:
        raise PlanError(
            "sharing.objection_window_days",
            rules.objection_window_days,
            "must end before the sharing day (7 days after publicity)",
        )
    t.done()
    return rules


def _claims(t: _Table) -> ClaimRules:
    rules = ClaimRules(
        materials_deadline_days=t.count("materials_deadline_days"),
        review_sla_days=t.count("review_sla_days"),
        investigation_sla_days=t.count("investigation_sla_days"),
        appeal_deadline_days=t.count("appeal_deadline_days"),
    )
    t.done()
    return rules


def _jury(t: _Table) -> JuryRules:
    rules = JuryRules(
        min_valid_votes=t.count("min_valid_votes"),
        approve_above=t.percent("approve_above_percent"),
        juror_min_age=t.count("juror_min_age"),
        juror_min_tenure_days=t.count("juror_min_tenure_days"),
        voting_days=t.count("voting_days"),
    )
    if rules.min_valid_votes == 0:
        raise PlanError("jury.min_valid_votes", 0, "must be at least 1")
    t.done()
    return rules


class _Table:
    """A TOML table read field by field: wrong types and unknown keys are PlanErrors."""

    def __init__(self, data: dict[str, Any], prefix: str) -> None:
        self._data = data
        self._prefix = prefix
        self._seen: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else key

    def _raw(self, key: str) -> Any:
        self._seen.add(key)
        if key not in self._data:
            raise PlanError(self.name(key), None, "is missing")
        return self._data[key]

    def get(self, key: str, kind: type[T]) -> T:
        value = self._raw(key)
        # bool is an int and datetime is a date in Python; neither is meant where the other is.
        if (
            not isinstance(value, kind)
            or (kind is not bool and isinstance(value, bool))
            or (kind is date and isinstance(value, datetime))
        ):
            raise PlanError(self.name(key), value, f"must be a {kind.__name__}")
        return value

    def count(self, key: str) -> int:
        value = self.get(key, int)
        if value < 0:
            raise PlanError(self.name(key), value, "must not be negative")
        return value

    def yuan(self, key: str) -> Fen:
        value = self._raw(key)
        if not isinstance(value, str):
            raise PlanError(self.name(key), value, "must be a yuan amount written as text")
        try:
            return parse_yuan(value, field=self.name(key))
        except PlanError:
            raise
        except ValueError as exc:
            raise PlanError(self.name(key), value, str(exc).split(": ", 1)[-1]) from None

    def percent(self, key: str) -> Fraction:
        value = self._raw(key)
        if not isinstance(value, str):
            raise PlanError(self.name(key), value, "must be a percentage written as text")
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise PlanError(self.name(key), value, "is not a number") from None
        if not number.is_finite() or not 0 <= number <= 100:
            raise PlanError(self.name(key), value, "must be between 0 and 100")
        return Fraction(number) / 100

    def strings(self, key: str) -> list[str]:
        value = self._raw(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise PlanError(self.name(key), value, "must be a list of names")
        return list(value)

    def table(self, key: str) -> _Table:
        value = self._raw(key)
        if not isinstance(value, dict):
            raise PlanError(self.name(key), value, "must be a table")
        return _Table(value, self.name(key))

    def tables(self, key: str, *, required: bool = True) -> list[_Table]:
        if not required and key not in self._data:
            self._seen.add(key)
            return []
        value = self._raw(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise PlanError(self.name(key), value, "must be a non-empty array of tables")
        return [_Table(v, f"{self.name(key)}[{i}]") for i, v in enumerate(value)]

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise PlanError(self.name(unknown[0]), self._data[unknown[0]], "is not a known setting")


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
