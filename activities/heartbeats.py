"""How the period's activities heartbeat: a ticker while the step makes progress, silence
once it has stalled.

A ticker thread beats every PULSE_EVERY_S while the step makes progress, so a worker that dies
is noticed within the workflow's heartbeat timeout (one minute) however long a shard takes.
Progress is a shard finishing (the engine's `Settlement.progress`, see `shard_progress`) or a
case handled (the list steps call `beat`); when none has come for STALL_AFTER_S the ticker
stops beating, Temporal times the attempt out and retries it (the engine resumes the same run
from its done markers).

STALL_AFTER_S is sized from measured shard times. On this project's 2-core machine, 1,000,000
members in 8 shards (125,000 a shard), inline executor, 2026-12: lock 1.5 s (0.08-0.21 s a
shard, 0.62 s before the first: freezing the run, checking the parent's files), debit 2.8 s
(0.23-0.42 s a shard, about 3.4 us a member), retry 1.9 s (0.13-0.29 s a shard),
reconciliation 1.7 s (per shard too). A store's shard count is fixed when it is created: at
105 million members in 256 shards (410,000 a shard) a shard is ~1.4 s, and a busy or slow Ray
node 10-50x slower, about a minute. Ten minutes is over 400x the measured time of such a shard
(a shard of ~170 million members at the measured speed), so a slow shard is never restarted
for being slow, while a hung one is retried within ten minutes instead of the 6-hour
start-to-close timeout.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from temporalio import activity

from settlement.executor import Progress

PULSE_EVERY_S = 10.0
STALL_AFTER_S = 600.0

P = ParamSpec("P")
R = TypeVar("R")

_pulse: contextvars.ContextVar[Pulse | None] = contextvars.ContextVar("pulse", default=None)


class Pulse:
    """The heartbeats of one activity attempt (see PULSE_EVERY_S). The details of each beat
    are whatever the last progress said (shown in the Web UI as the step's heartbeat)."""

    def __init__(self, *, every: float | None = None, stall_after: float | None = None):
        self._every = PULSE_EVERY_S if every is None else every
        self._stall_after = STALL_AFTER_S if stall_after is None else stall_after
        self._details: tuple[object, ...] = ("started",)
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def progress(self, *details: object) -> None:
        """Progress was made (callable from any thread)."""
        self._details = details
        self._last = time.monotonic()

    def __enter__(self) -> Pulse:
        self._token = _pulse.set(self)
        if activity.in_activity():
            activity.heartbeat(*self._details)
            # The activity's context (what `activity.heartbeat` needs) goes with the thread.
            context = contextvars.copy_context()
            self._thread = threading.Thread(
                target=context.run, args=(self._run,), name="heartbeat", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        _pulse.reset(self._token)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if time.monotonic() - self._last <= self._stall_after:
                activity.heartbeat(*self._details)


def pulsing(step: Callable[P, R]) -> Callable[P, R]:
    """Run an activity with its heartbeats (`Pulse`)."""

    @functools.wraps(step)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with Pulse():
            return step(*args, **kwargs)

    return run


def beat(*details: object) -> None:
    """Report progress to the running step's heartbeats (outside an activity: nothing)."""
    pulse = _pulse.get()
    if pulse is not None:
        pulse.progress(*details)


def shard_progress() -> Callable[[str], Progress]:
    """What the engine reports each finished shard to (`Settlement.progress`): the running
    step's heartbeats, as `<label>: <done>/<total>`. Taken here, in the activity's thread:
    the engine may report a shard done from another."""
    pulse = _pulse.get()

    def heartbeat(label: str) -> Progress:
        if pulse is None:
            return lambda done, total: None
        return lambda done, total: pulse.progress(f"{label}: {done}/{total}")

    return heartbeat
