"""The deployment's program clock: recorded in SQL at the first set-up, the same for every
command after it, and a different speed asked for later is refused in one line with nothing
written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import func, select

from infra.config import Settings
from infra.db import unit_of_work
from infra.models import ProgramClockRow
from mutualaid.errors import InputError
from tests.helpers import run_cli
from workers.stack import Speed, deployment_clock, peeked_clock, prepare_database


def settings_in(folder: Path, **values: str) -> Settings:
    return Settings(state_dir=folder, **values)  # type: ignore[arg-type]


def test_the_first_set_up_records_the_clock_and_later_ones_read_it(tmp_path: Path) -> None:
    assert peeked_clock(settings_in(tmp_path)) is None
    before = datetime.now(UTC)
    first = deployment_clock(settings_in(tmp_path, seconds_per_day="2"))
    assert first.seconds_per_day == 2
    assert before <= first.origin_real <= datetime.now(UTC)
    # Unset later: the recorded clock, not real time; the same origin, however often read.
    again = deployment_clock(settings_in(tmp_path))
    assert again == first
    assert peeked_clock(settings_in(tmp_path)) == first
    # Two moments a minute apart are 30 program days apart on it: one clock for everyone.
    later = first.origin_real + timedelta(seconds=60)
    assert again.program_now(later) - first.program_now(first.origin_real) == timedelta(days=30)


def test_a_command_default_speed_applies_only_to_a_new_deployment(tmp_path: Path) -> None:
    new = deployment_clock(settings_in(tmp_path / "a"), first_speed=Fraction(3))
    assert new.seconds_per_day == 3
    real = deployment_clock(settings_in(tmp_path / "b"))
    assert real.is_real
    assert deployment_clock(settings_in(tmp_path / "b"), first_speed=Fraction(3)).is_real


@pytest.mark.parametrize(
    ("speed", "field"),
    [
        (None, "MUTUALAID_SECONDS_PER_DAY"),
        (Speed(field="seconds-per-day", seconds_per_day=Fraction(5)), "seconds-per-day"),
    ],
)
def test_another_speed_later_is_refused_and_nothing_changes(
    tmp_path: Path, speed: Speed | None, field: str
) -> None:
    recorded = deployment_clock(settings_in(tmp_path, seconds_per_day="2"))
    asked = settings_in(tmp_path, seconds_per_day="3") if speed is None else settings_in(tmp_path)
    with pytest.raises(InputError) as refused:
        prepare_database(asked, speed=speed)
    assert str(refused.value).startswith(f"{field}=")
    assert "differs from the deployment's program clock (2 s a program day" in str(refused.value)
    assert deployment_clock(settings_in(tmp_path)) == recorded


def test_a_refused_first_set_up_records_no_clock(tmp_path: Path) -> None:
    # The command's option and the variable disagree on a new deployment: refused, and no
    # clock is left behind for the next command to inherit.
    with pytest.raises(InputError):
        prepare_database(
            settings_in(tmp_path, seconds_per_day="2"),
            speed=Speed(field="seconds-per-day", seconds_per_day=Fraction(4)),
        )
    engine = prepare_database(settings_in(tmp_path))
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(ProgramClockRow)) == 1
        assert session.get(ProgramClockRow, 1).seconds_per_day == "86400"  # type: ignore[union-attr]
    engine.dispose()


def test_config_shows_the_recorded_clock(tmp_path: Path) -> None:
    env = {"MUTUALAID_STATE_DIR": str(tmp_path)}
    before = run_cli("config", "--json", env=env)
    rows = {r["variable"]: r["value"] for r in json.loads(before.stdout)}
    assert rows["program clock"].startswith("(not set up yet")
    assert not (tmp_path / "mutualaid.db").exists()  # looking sets nothing up
    assert run_cli("db", "upgrade", env=env | {"MUTUALAID_SECONDS_PER_DAY": "1/2"}).returncode == 0
    after = run_cli("config", "--json", env=env)
    rows = {r["variable"]: r["value"] for r in json.loads(after.stdout)}
    assert rows["program clock"].startswith("1/2 s a program day; program 20")
    refused = run_cli("db", "upgrade", env=env | {"MUTUALAID_SECONDS_PER_DAY": "2"})
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: MUTUALAID_SECONDS_PER_DAY='2': differs from")
    assert refused.stderr.count("\n") == 1
