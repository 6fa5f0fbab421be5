"""Fixtures for the pure core's unit tests: the shipped plan files, read once per session.

Session scope keeps them usable from hypothesis tests (no per-example fixture reset).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mutualaid.plans
from mutualaid.plan import Plan, parse_plan

PLANS_DIR = Path(mutualaid.plans.__file__).parent


@pytest.fixture(scope="session")
def chronic_text() -> str:
    return (PLANS_DIR / "chronic.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def major_text() -> str:
    return (PLANS_DIR / "major.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def chronic(chronic_text: str) -> Plan:
    return parse_plan(chronic_text, source="chronic.toml")


@pytest.fixture(scope="session")
def major(major_text: str) -> Plan:
    return parse_plan(major_text, source="major.toml")
