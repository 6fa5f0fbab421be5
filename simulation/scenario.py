"""What a simulated run does, as data: the mix of claim paths (their shares) and how long each
human step takes, in program days, as a seeded distribution.

A scenario is a frozen value, loaded from a small TOML or JSON file or taken from the named
ones here; a bad file is one line naming the field. Draws come from `random.Random(seed)`, so
a run with the same scenario and seed draws the same paths and delays.

    [mix]            # shares, summing to 1
    approved = 0.7
    denied = 0.05
    ...
    [delays.review]  # program days
    kind = "lognormal"
    median = 2
    sigma = 0.5
"""

from __future__ import annotations

import json
import math
import pathlib
import random
import tomllib
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from mutualaid.errors import InputError
from simulation.fields import known, number, table


class ClaimPath(StrEnum):
    """The road a simulated claim takes (its fate, drawn when it is reported)."""

    APPROVED = "approved"  # reviewed, investigated, approved, publicised, paid
    DENIED = "denied"  # denied at decision; no appeal: finally denied when the deadline passes
    APPEALED = "appealed"  # denied, appealed; the jury approves; then as approved
    OBJECTED = "objected"  # approved; objected in publicity; re-investigated; a later period
    INCOMPLETE = "incomplete"  # review asks for a document again; resubmitted; then as approved
    WITHDRAWN = "withdrawn"  # the applicant withdraws during the investigation
    INELIGIBLE = "ineligible"  # reports a condition the plan does not cover: refused at intake


PATHS: tuple[ClaimPath, ...] = tuple(ClaimPath)
# Shares that do not sum to 1 within this are refused (written as decimals in files).
_SUM_TOLERANCE = 1e-9
_KINDS = ("fixed", "uniform", "lognormal")


@dataclass(frozen=True, slots=True, kw_only=True)
class Delay:
    """A human step's delay in program days: `fixed` (days), `uniform` (low..high) or
    `lognormal` (median, sigma; capped at `high` when given, so a tail never stalls a run)."""

    kind: str = "fixed"
    days: float = 0.0
    low: float = 0.0
    high: float = 0.0
    median: float = 0.0
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise InputError("kind", self.kind, f"must be one of {', '.join(_KINDS)}")
        for name in ("days", "low", "high", "median", "sigma"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InputError(name, value, "must be a finite number of days >= 0")
        if self.kind == "uniform" and self.high < self.low:
            raise InputError("high", self.high, f"must be at least low ({self.low})")
        if self.kind == "lognormal" and self.median <= 0:
            raise InputError("median", self.median, "must be positive for a lognormal delay")

    def draw(self, rng: random.Random) -> float:
        """One delay in program days."""
        if self.kind == "fixed":
            return self.days
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        drawn = rng.lognormvariate(math.log(self.median), self.sigma)
        return min(drawn, self.high) if self.high > 0 else drawn

    @property
    def mean(self) -> float:
        if self.kind == "fixed":
            return self.days
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        return self.median * math.exp(self.sigma**2 / 2)


_AT_ONCE = Delay(kind="fixed", days=0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mix:
    """The share of claims taking each path; they sum to 1."""

    approved: float = 1.0
    denied: float = 0.0
    appealed: float = 0.0
    objected: float = 0.0
    incomplete: float = 0.0
    withdrawn: float = 0.0
    ineligible: float = 0.0

    def __post_init__(self) -> None:
        for path in PATHS:
            share = getattr(self, path.value)
            if not math.isfinite(share) or not 0 <= share <= 1:
                raise InputError(f"mix.{path.value}", share, "must be a share between 0 and 1")
        total = sum(getattr(self, p.value) for p in PATHS)
        if abs(total - 1) > _SUM_TOLERANCE:
            raise InputError("mix", round(total, 12), "shares must sum to 1")

    def draw(self, rng: random.Random) -> ClaimPath:
        """One claim's path, by the shares."""
        roll = rng.random()
        for path in PATHS:
            roll -= getattr(self, path.value)
            if roll < 0:
                return path
        return ClaimPath.APPROVED  # the rounding of the last share


@dataclass(frozen=True, slots=True, kw_only=True)
class Delays:
    """How long each human step takes, in program days."""

    review: Delay = _AT_ONCE
    investigation: Delay = _AT_ONCE
    decision: Delay = _AT_ONCE
    resubmission: Delay = _AT_ONCE
    appeal: Delay = _AT_ONCE
    jury_votes: Delay = _AT_ONCE
    objection: Delay = _AT_ONCE
    withdrawal: Delay = _AT_ONCE
    payment: Delay = _AT_ONCE


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    mix: Mix
    delays: Delays
    seed: int = 20260513

    def rng(self, stream: str = "") -> random.Random:
        """A generator of its own for one stream of draws (paths, delays, members), so one
        stream's draws never shift another's."""
        return random.Random(f"{self.seed}/{stream}")


# The demo's people: every claim approved, but those whose findings show an undeclared history
# (about 15%), which are denied, appealed and approved by the jury; the demo itself picks one
# claim a period for an objection. They act at once: the demo's clock is its pace.
DEMO = Scenario(name="demo", mix=Mix(approved=0.85, appealed=0.15), delays=Delays())

# A plausible mix for load: most approved, the side roads all taken, delays as the public
# record has them (investigations 1-5 weeks, a jury within its voting days, payment within the
# payout deadline).
DEFAULT = Scenario(
    name="default",
    mix=Mix(
        approved=0.62,
        denied=0.05,
        appealed=0.05,
        objected=0.03,
        incomplete=0.10,
        withdrawn=0.05,
        ineligible=0.10,
    ),
    delays=Delays(
        review=Delay(kind="lognormal", median=2, sigma=0.5, high=7),
        investigation=Delay(kind="lognormal", median=14, sigma=0.4, high=35),
        decision=Delay(kind="uniform", low=0.5, high=2),
        resubmission=Delay(kind="uniform", low=1, high=10),
        appeal=Delay(kind="uniform", low=1, high=10),
        jury_votes=Delay(kind="uniform", low=0.2, high=2),
        objection=Delay(kind="uniform", low=0.1, high=2),
        withdrawal=Delay(kind="uniform", low=1, high=10),
        payment=Delay(kind="uniform", low=0, high=3),
    ),
)

# Claims for a period at volume (`loadtest periods`): every one approved, at once; the period
# workflow takes them from there.
PERIOD = Scenario(name="period", mix=Mix(approved=1.0), delays=Delays())

NAMED: dict[str, Scenario] = {s.name: s for s in (DEFAULT, DEMO, PERIOD)}


def load_scenario(source: str) -> Scenario:
    """A named scenario (`default`, `demo`) or one read from a .toml or .json file."""
    if source in NAMED:
        return NAMED[source]
    path = pathlib.Path(source)
    if path.suffix not in (".toml", ".json"):
        raise InputError(
            "scenario",
            source,
            f"is neither a named scenario ({', '.join(NAMED)}) nor a .toml or .json file",
        )
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError("scenario", source, f"cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputError("scenario", source, f"is not valid {path.suffix[1:]}: {exc}") from None
    if not isinstance(data, dict):
        raise InputError("scenario", source, "must hold a table")
    return scenario_from(data, name=path.stem)


def scenario_from(data: dict[str, Any], *, name: str) -> Scenario:
    """A scenario from parsed data; unknown keys are refused (a typo must not pass silently)."""
    known(data, {"name", "seed", "mix", "delays"}, "scenario")
    mix_data = table(data.get("mix", {}), "mix")
    known(mix_data, {p.value for p in PATHS}, "mix")
    # A file names the paths it uses; the others are 0.
    mix = Mix(**{p.value: number(mix_data.get(p.value, 0), f"mix.{p.value}") for p in PATHS})
    delays_data = table(data.get("delays", {}), "delays")
    steps = {f.name for f in fields(Delays)}
    known(delays_data, steps, "delays")
    delays = Delays(
        **{
            step: _delay(table(value, f"delays.{step}"), step)
            for step, value in delays_data.items()
        }
    )
    seed = data.get("seed", 20260513)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError("seed", seed, "must be an integer")
    return Scenario(name=str(data.get("name", name)), mix=mix, delays=delays, seed=seed)


def _delay(data: dict[str, Any], step: str) -> Delay:
    allowed = {"kind", "days", "low", "high", "median", "sigma"}
    known(data, allowed, f"delays.{step}")
    values = {k: number(v, f"delays.{step}.{k}") for k, v in data.items() if k != "kind"}
    try:
        return Delay(kind=str(data.get("kind", "fixed")), **values)
    except InputError as exc:
        raise InputError(f"delays.{step}.{exc.field}", exc.value, exc.reason) from None
