"""Loading plan files: the ones that ship with the program plus any named in the settings."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mutualaid.errors import InputError, PlanError
from mutualaid.plan import Plan, parse_plan


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSource:
    """A parsed plan with the exact text it came from (stored with its rules version)."""

    plan: Plan
    text: str
    origin: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def builtin_plan_sources() -> list[PlanSource]:
    folder = resources.files("mutualaid.plans")
    sources = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            text = entry.read_text(encoding="utf-8")
            sources.append(
                PlanSource(plan=parse_plan(text, source=entry.name), text=text, origin=entry.name)
            )
    return sources


def read_plan_file(path: Path) -> PlanSource:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("plan_file", str(path), "does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError("plan_file", str(path), f"cannot be read: {exc}") from None
    try:
        plan = parse_plan(text, source=path.name)
    except PlanError as exc:
        if exc.field == path.name:
            raise
        raise PlanError(f"{path.name}:{exc.field}", exc.value, exc.reason) from None
    return PlanSource(plan=plan, text=text, origin=str(path))


def load_plan_sources(extra: Iterable[Path] = ()) -> dict[str, PlanSource]:
    """Every known plan by id; a configured file overrides a built-in plan of the same id."""
    plans = {source.plan.id: source for source in builtin_plan_sources()}
    for path in extra:
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        for file in files:
            source = read_plan_file(file)
            plans[source.plan.id] = source
    return dict(sorted(plans.items()))


def get_plan(plans: dict[str, PlanSource], plan_id: str) -> Plan:
    if plan_id not in plans:
        raise InputError(
            "plan", plan_id, f"is not a known plan (known: {', '.join(sorted(plans))})"
        )
    return plans[plan_id].plan
