"""The cost projection's assumptions, read from TOML: the files shipped in
`simulation/projections/` (one per plan, and growth paths) or a user's own.

A bad file or setting is one InputError naming the field and the value. What-if settings
(`--set key=value`) go through the same checks as the file, so an override can never hold
what a file could not.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from mutualaid.age_structure import AGE_BAND_YEARS, AGE_WEIGHTS
from mutualaid.errors import InputError
from simulation.fields import known, number, table
from simulation.scenario import Mix, load_scenario

BANDS = len(AGE_BAND_YEARS) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Incidence:
    """New cases of one covered illness per 100,000 people a year, by 5-year age band."""

    condition: str
    source: str
    per_100k: tuple[float, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Assumptions:
    """What a projection assumes beyond the plan's rules (those come from the plan file)."""

    plan_id: str
    relative_risk: float
    exit_rate_per_year: float
    debit_failure_rate: float
    retry_recovery: float
    claim_lag_periods: int
    # Incidence factor in each year of membership (the first, the second, ...); 1 after.
    selection_by_year: tuple[float, ...]
    mix: Mix
    growth_name: str
    # (months since launch, fraction of the target membership), months increasing.
    growth: tuple[tuple[float, float], ...]
    joiner_age_weights: tuple[float, ...]
    incidence: tuple[Incidence, ...]


# The settings `--set` may change here (the plan's own go to the plan file).
SETTABLE = (
    "relative_risk",
    "exit_rate_per_year",
    "debit_failure_rate",
    "retry_recovery",
    "claim_lag_periods",
)


def builtin_assumptions(plan_id: str) -> Assumptions:
    """The shipped assumptions for a plan."""
    folder = resources.files("simulation.projections")
    entry = folder / f"{plan_id}.toml"
    if not entry.is_file():
        known = sorted(
            e.name.removesuffix(".toml")
            for e in folder.iterdir()
            if e.name.endswith(".toml") and not e.name.startswith("growth-")
        )
        raise InputError("plan", plan_id, f"has no projection assumptions (known: {known})")
    return parse_assumptions(entry.read_text(encoding="utf-8"), source=entry.name)


def read_assumptions(path: Path) -> Assumptions:
    return parse_assumptions(_read(path, "assumptions"), source=path.name)


def parse_assumptions(text: str, *, source: str) -> Assumptions:
    data = _toml(text, source)
    known(data, {"projection", "joiners", "incidence"}, "")
    p = table(data.get("projection"), "projection")
    known(
        p,
        {"plan", "growth", "claim_scenario", "selection_by_year", *SETTABLE},
        "projection",
    )
    growth_name = _text(p.get("growth"), "projection.growth")
    joiners = table(data.get("joiners", {}), "joiners")
    known(joiners, {"age_weights"}, "joiners")
    rows = data.get("incidence")
    if not isinstance(rows, list) or not rows:
        raise InputError("incidence", rows, "must be a non-empty array of tables")
    assumptions = Assumptions(
        plan_id=_text(p.get("plan"), "projection.plan"),
        relative_risk=0.0,
        exit_rate_per_year=0.0,
        debit_failure_rate=0.0,
        retry_recovery=0.0,
        claim_lag_periods=0,
        selection_by_year=_factors(p.get("selection_by_year", []), "projection.selection_by_year"),
        mix=_mix(_text(p.get("claim_scenario"), "projection.claim_scenario")),
        growth_name=growth_name,
        growth=growth_points(growth_file_text(growth_name), source=growth_name),
        joiner_age_weights=_age_weights(joiners.get("age_weights", "core")),
        incidence=tuple(_incidence(row, i) for i, row in enumerate(rows)),
    )
    return with_settings(assumptions, {key: p.get(key) for key in SETTABLE})


def with_settings(assumptions: Assumptions, settings: dict[str, Any]) -> Assumptions:
    """The assumptions with these settings replaced, each checked as the file's would be."""
    values: dict[str, Any] = {}
    for key, value in settings.items():
        field = f"projection.{key}"
        if key not in SETTABLE:
            raise InputError(field, value, f"is not a setting (known: {', '.join(SETTABLE)})")
        if key == "claim_lag_periods":
            values[key] = _count(value, field, most=24)
        elif key == "relative_risk":
            values[key] = _number(value, field, most=100.0)
        else:
            values[key] = _number(value, field, most=1.0)
    return replace(assumptions, **values)


def with_growth(assumptions: Assumptions, name_or_path: str) -> Assumptions:
    """The assumptions with another growth path: a shipped name or a file."""
    path = Path(name_or_path)
    text = _read(path, "growth") if path.suffix == ".toml" else growth_file_text(name_or_path)
    return replace(
        assumptions,
        growth_name=name_or_path,
        growth=growth_points(text, source=name_or_path),
    )


def growth_file_text(name: str) -> str:
    folder = resources.files("simulation.projections")
    entry = folder / f"growth-{name}.toml"
    if not entry.is_file():
        known = sorted(
            e.name.removeprefix("growth-").removesuffix(".toml")
            for e in folder.iterdir()
            if e.name.startswith("growth-")
        )
        raise InputError("growth", name, f"is not a growth path or a .toml file (known: {known})")
    return entry.read_text(encoding="utf-8")


def growth_points(text: str, *, source: str) -> tuple[tuple[float, float], ...]:
    """A growth file's points: [months since launch, fraction of --members], months rising."""
    data = _toml(text, source)
    known(data, {"points"}, "")
    raw = data.get("points")
    if not isinstance(raw, list) or not raw:
        raise InputError("growth.points", raw, "must be a non-empty list of [month, fraction]")
    points: list[tuple[float, float]] = []
    for i, point in enumerate(raw):
        field = f"growth.points[{i}]"
        if not isinstance(point, list) or len(point) != 2:
            raise InputError(field, point, "must be [month, fraction]")
        month = _number(point[0], f"{field}.month", most=1200.0)
        fraction = _number(point[1], f"{field}.fraction", most=100.0)
        if points and month <= points[-1][0]:
            raise InputError(f"{field}.month", point[0], "must be after the previous point's")
        points.append((month, fraction))
    return tuple(points)


def covered_incidence(assumptions: Assumptions, covered: frozenset[str]) -> list[float]:
    """New covered cases per 100,000 a year by age band: the covered conditions' rates summed,
    times the relative risk. A plan none of whose covered illnesses has a rate is refused."""
    rows = [row for row in assumptions.incidence if row.condition in covered]
    if not rows:
        raise InputError(
            "incidence",
            sorted(r.condition for r in assumptions.incidence),
            f"has no rate for any illness plan {assumptions.plan_id} covers",
        )
    return [
        assumptions.relative_risk * sum(row.per_100k[band] for row in rows) for band in range(BANDS)
    ]


def _incidence(row: object, i: int) -> Incidence:
    field = f"incidence[{i}]"
    data = table(row, field)
    known(data, {"condition", "source", "per_100k"}, field)
    rates = data.get("per_100k")
    if not isinstance(rates, list) or len(rates) != BANDS:
        raise InputError(
            f"{field}.per_100k", rates, f"must list {BANDS} rates, one per 5-year band"
        )
    return Incidence(
        condition=_text(data.get("condition"), f"{field}.condition"),
        source=_text(data.get("source"), f"{field}.source"),
        per_100k=tuple(_number(r, f"{field}.per_100k", most=100_000.0) for r in rates),
    )


def _age_weights(value: object) -> tuple[float, ...]:
    if value == "core":
        return AGE_WEIGHTS
    if not isinstance(value, list) or len(value) != BANDS:
        raise InputError("joiners.age_weights", value, f'must be "core" or {BANDS} weights')
    weights = tuple(_number(w, "joiners.age_weights", most=1e12) for w in value)
    if sum(weights) <= 0:
        raise InputError("joiners.age_weights", value, "must not all be zero")
    return weights


def _factors(value: object, field: str) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise InputError(field, value, "must be a list of factors, one per year of membership")
    return tuple(_number(v, field, most=100.0) for v in value)


def _mix(name: str) -> Mix:
    return load_scenario(name).mix


def _read(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(field, str(path), "does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(field, str(path), f"cannot be read: {exc}") from None


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(source, str(exc).splitlines()[0], "is not valid TOML") from None


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(field, value, "must be a non-empty text")
    return value


def _number(value: object, field: str, *, most: float) -> float:
    """A number from a file, or from `--set` as text."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InputError(field, value, "is not a number") from None
    return number(value, field, most=most)


def _count(value: object, field: str, *, most: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise InputError(field, value, "is not a whole number") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise InputError(field, value, f"must be a whole number from 0 to {most}")
    return value
