"""Wiring shared by the commands: settings, the prepared database, the deployment's program
clock, the embedded dev server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from infra.config import PREFIX, Settings
from infra.db import make_engine, normalise_url, unit_of_work, upgrade
from infra.devstack import BackgroundConsole, DevStack
from infra.plans import PlanSource, load_plan_sources
from infra.repositories import PlanRepository, ProgramClockRepository
from mutualaid.calendar import program_date
from mutualaid.clock import SECONDS_PER_DAY, ProgramClock
from mutualaid.errors import InputError


def dev_stack(settings: Settings) -> DevStack:
    host, port = settings.temporal_host_port
    return DevStack(
        state_dir=settings.state_dir,
        host=host,
        port=port,
        ui_port=settings.temporal_ui_port,
        namespace=settings.temporal_namespace,
    )


def background_console(settings: Settings) -> BackgroundConsole:
    """The console the demo leaves running for the embedded stack (loopback only)."""
    return BackgroundConsole(
        state_dir=settings.state_dir, host="127.0.0.1", port=settings.console_port
    )


def plan_sources(settings: Settings) -> dict[str, PlanSource]:
    return load_plan_sources(settings.plan_files)


@dataclass(frozen=True, slots=True, kw_only=True)
class Speed:
    """A program-clock speed someone asked for, and where they wrote it (for the error)."""

    field: str
    seconds_per_day: Fraction


def prepare_database(
    settings: Settings, *, speed: Speed | None = None, first_speed: Fraction | None = None
) -> Engine:
    """Connect, migrate to the latest schema, record every plan's rules version and, on the
    deployment's first set-up, its program clock.

    The clock runs at `speed` (a command's option), else MUTUALAID_SECONDS_PER_DAY, else
    `first_speed` (a command's default), else real time, from now. Once recorded it is the
    deployment's: asking for another speed later is refused with one line, before anything
    else is written."""
    sources = plan_sources(settings)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    asked = [s for s in (speed, _speed_of(settings)) if s is not None]
    now = datetime.now(UTC)
    with unit_of_work(engine) as session:
        clocks = ProgramClockRepository(session)
        wanted = asked[0].seconds_per_day if asked else first_speed or Fraction(SECONDS_PER_DAY)
        clock, _ = clocks.record(
            ProgramClock(seconds_per_day=wanted, origin_real=now, origin_program=now), at=now
        )
        for ask in asked:
            if ask.seconds_per_day != clock.seconds_per_day:
                engine.dispose()
                raise InputError(
                    ask.field,
                    str(ask.seconds_per_day),
                    f"differs from the deployment's program clock ({clock.seconds_per_day} s "
                    f"a program day since {clock.origin_real.isoformat(timespec='seconds')}); "
                    "a deployment has one clock: a new state directory or database starts "
                    "another",
                )
    with unit_of_work(engine) as session:
        plans = PlanRepository(session)
        for source in sources.values():
            plans.record(source, at=now)
    return engine


def recorded_clock(engine: Engine) -> ProgramClock:
    """The deployment's program clock (`prepare_database` has recorded it)."""
    with unit_of_work(engine) as session:
        clock = ProgramClockRepository(session).get()
    if clock is None:
        raise RuntimeError("the database was not prepared: no program clock recorded")
    return clock


def deployment_clock(
    settings: Settings, *, speed: Speed | None = None, first_speed: Fraction | None = None
) -> ProgramClock:
    """The deployment's program clock, recording it on first use (see `prepare_database`)."""
    engine = prepare_database(settings, speed=speed, first_speed=first_speed)
    try:
        return recorded_clock(engine)
    finally:
        engine.dispose()


def peeked_clock(settings: Settings) -> ProgramClock | None:
    """The recorded clock, without setting anything up: None before the first set-up (no
    database file, no schema yet, or no clock in it)."""
    url = make_url(normalise_url(settings.database_url))
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return None
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            return ProgramClockRepository(session).get()
    except (OperationalError, ProgrammingError):  # no schema yet
        return None
    finally:
        engine.dispose()


def program_today(settings: Settings) -> date:
    """Today on the deployment's clock; real today where no deployment is set up yet (a
    population is often generated, and jurors qualified, before anything else)."""
    clock = peeked_clock(settings)
    now = datetime.now(UTC)
    return program_date(clock.program_now(now) if clock is not None else now)


def _speed_of(settings: Settings) -> Speed | None:
    if settings.seconds_per_day is None:
        return None
    return Speed(field=f"{PREFIX}SECONDS_PER_DAY", seconds_per_day=settings.seconds_per_day)
