"""The program clock: how long a program day lasts in real time.

Production runs on real days. Demos and load tests compress them (a few real seconds per
program day) so a whole period with its waits runs in minutes through the same code paths.
The clock maps between a real moment and a program moment from a fixed origin; the caller
passes the real moment (for a workflow, `workflow.now()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from mutualaid.errors import InputError

SECONDS_PER_DAY = 86_400
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgramClock:
    """seconds_per_day: real seconds one program day lasts (86400 in production).

    origin_real and origin_program are one instant seen on both clocks; with the real clock
    they are the same instant.

    >>> fast = ProgramClock(seconds_per_day=Fraction(2))
    >>> fast.real_duration(timedelta(days=30))
    datetime.timedelta(seconds=60)
    """

    seconds_per_day: Fraction = Fraction(SECONDS_PER_DAY)
    origin_real: datetime = _EPOCH
    origin_program: datetime = _EPOCH

    def __post_init__(self) -> None:
        if self.seconds_per_day <= 0:
            raise InputError("seconds_per_day", str(self.seconds_per_day), "must be positive")

    @property
    def speedup(self) -> Fraction:
        return Fraction(SECONDS_PER_DAY) / self.seconds_per_day

    @property
    def is_real(self) -> bool:
        return self.seconds_per_day == SECONDS_PER_DAY and self.origin_real == self.origin_program

    def real_duration(self, program: timedelta) -> timedelta:
        """How long a program duration lasts in real time (for timers)."""
        micros = _micros(program) / self.speedup
        return timedelta(microseconds=int(micros.__ceil__()))

    def program_now(self, real_now: datetime) -> datetime:
        """The program moment at a real moment."""
        elapsed = _micros(real_now - self.origin_real) * self.speedup
        return self.origin_program + timedelta(microseconds=int(elapsed.__floor__()))

    def real_at(self, program_moment: datetime) -> datetime:
        """The real moment at which the program clock reaches a program moment."""
        elapsed = _micros(program_moment - self.origin_program) / self.speedup
        return self.origin_real + timedelta(microseconds=int(elapsed.__ceil__()))


def _micros(delta: timedelta) -> Fraction:
    return Fraction((delta.days * SECONDS_PER_DAY + delta.seconds) * 1_000_000 + delta.microseconds)
