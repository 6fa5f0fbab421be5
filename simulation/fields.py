"""Reading the simulation's TOML and JSON files field by field: a wrong type, an unknown key or
a number out of range is one InputError naming the field (a typo must not pass silently)."""

from __future__ import annotations

import math
from typing import Any

from mutualaid.errors import InputError


def table(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(field, value, "must be a table")
    return value


def known(data: dict[str, Any], allowed: set[str], field: str) -> None:
    """Refuse the first key (in sorted order) that is not allowed; `field` is the table's name
    ("" at the top of a file)."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InputError(
            f"{field}.{unknown[0]}" if field else unknown[0],
            data[unknown[0]],
            f"is not known (known: {', '.join(sorted(allowed))})",
        )


def number(value: object, field: str, *, most: float | None = None) -> float:
    """A finite number, from 0 to `most` when `most` is given."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(field, value, "must be a number")
    if most is not None and (not math.isfinite(value) or not 0 <= value <= most):
        raise InputError(field, value, f"must be between 0 and {most:g}")
    return float(value)
