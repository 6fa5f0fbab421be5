"""The demo's run as `<state>/demo.json` keeps it: the program clock (recorded once, at the
first start, and read by every workflow the demo starts), the periods it runs (written before
any is started), the periods whose claims were reported, and, once it finished, the program
moment it reached, from which the next run continues."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from infra.config import Settings
from mutualaid.clock import ProgramClock
from workers.output import errors as console


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoClock:
    """The demo's program clock, kept between runs in `<state>/demo.json`."""

    real_origin: datetime
    program_origin: datetime
    seconds_per_day: Fraction

    @property
    def clock(self) -> ProgramClock:
        return ProgramClock(
            seconds_per_day=self.seconds_per_day,
            origin_real=self.real_origin,
            origin_program=self.program_origin,
        )


@dataclass(slots=True, kw_only=True)
class DemoRun:
    """One run of the demo as `<state>/demo.json` keeps it: written at each step, so a run
    killed anywhere is resumed, never started a second time beside itself."""

    clock: DemoClock
    periods: list[date]
    reported: list[date]  # periods whose claims were reported
    finished: bool = False
    program_reached: datetime | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "real_origin": self.clock.real_origin.isoformat(),
                "program_origin": self.clock.program_origin.isoformat(),
                "seconds_per_day": str(self.clock.seconds_per_day),
                "periods": [d.isoformat() for d in self.periods],
                "reported": [d.isoformat() for d in self.reported],
                "finished": self.finished,
                "program_reached": (
                    self.program_reached.isoformat() if self.program_reached else None
                ),
            },
            indent=1,
        )

    def save(self, state_file: Path) -> None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = state_file.with_suffix(".tmp")
        temporary.write_text(self.to_json())
        temporary.replace(state_file)


def load_run(state_file: Path, seconds_per_day: Fraction) -> DemoRun:
    """The run to do: the one a kill interrupted (its clock and periods as recorded), or a
    new one at `seconds_per_day` (continuing from the program moment the last finished run
    reached)."""
    now = datetime.now(UTC)
    saved: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    if saved and not saved.get("finished", True) and "real_origin" in saved:
        clock = DemoClock(
            real_origin=datetime.fromisoformat(saved["real_origin"]),
            program_origin=datetime.fromisoformat(saved["program_origin"]),
            seconds_per_day=Fraction(saved["seconds_per_day"]),
        )
        if clock.seconds_per_day != seconds_per_day:
            console.print(
                f"resuming at {clock.seconds_per_day} s a program day, as the run began "
                f"(not {seconds_per_day}); `--fresh` starts over"
            )
        return DemoRun(
            clock=clock,
            periods=[date.fromisoformat(d) for d in saved.get("periods", [])],
            reported=[date.fromisoformat(d) for d in saved.get("reported", [])],
        )
    reached = saved.get("program_reached")
    run = DemoRun(
        clock=DemoClock(
            real_origin=now,
            program_origin=datetime.fromisoformat(reached) if reached else now,
            seconds_per_day=seconds_per_day,
        ),
        periods=[],
        reported=[],
    )
    run.save(state_file)  # the clock is recorded once, before anything runs on it
    return run


def wipe(settings: Settings) -> None:
    """Everything the demo made under the state directory, for `--fresh`: its databases, its
    run, the member store and the publicity lists."""
    for name in ("mutualaid.db", "temporal.db", "demo.json", "demo.tmp"):
        for path in settings.state_dir.glob(f"{name}*"):
            path.unlink()
    for folder in (Path(settings.store_root), settings.state_dir / "publicity"):
        shutil.rmtree(folder, ignore_errors=True)
