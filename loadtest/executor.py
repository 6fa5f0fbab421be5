"""The load's shape, in the manner of Temporal's "omes" load generator: open-loop arrivals at a
rate (Poisson: exponential gaps, seeded) or a closed loop of N at once, for a duration or a
number of iterations; then a drain of bounded length for the iterations still running. Each
iteration is one scenario run (one claim's life, one no-op workflow), recorded in a
`Recorder`; a live line on stderr shows started, completed, errors, open and the rate."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.text import Text

from loadtest.metrics import Recorder
from mutualaid.errors import InputError

# One iteration: given its number, run it and return its outcome (a claim's final state).
Iteration = Callable[[int], Awaitable[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """rate (per second) xor concurrency; duration_s and/or count bound the arrivals (the
    first reached stops them); drain_s bounds the wait for iterations still running."""

    rate: float | None = None
    concurrency: int | None = None
    duration_s: float | None = None
    count: int | None = None
    drain_s: float = 120.0
    seed: int = 1

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.concurrency is None):
            raise InputError("rate", self.rate, "give either --rate or --concurrency")
        if self.rate is not None and not 0 < self.rate <= 10_000:
            raise InputError("rate", self.rate, "must be between 0 and 10000 per second")
        if self.concurrency is not None and not 1 <= self.concurrency <= 10_000:
            raise InputError("concurrency", self.concurrency, "must be between 1 and 10000")
        if self.duration_s is None and self.count is None:
            raise InputError("duration", None, "give --duration or --claims")
        if self.duration_s is not None and not 0 < self.duration_s <= 24 * 3600:
            raise InputError("duration", self.duration_s, "must be between 1 s and 24 h")
        if self.count is not None and not 1 <= self.count <= 10_000_000:
            raise InputError("claims", self.count, "must be between 1 and 10000000")
        if not 0 <= self.drain_s <= 3600:
            raise InputError("drain", self.drain_s, "must be between 0 and 3600 seconds")


def parse_duration(text: str, *, field: str = "duration") -> float:
    """Seconds from `90`, `90s`, `10m`, `1h`.

    >>> parse_duration("10m")
    600.0
    """
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    body, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(body) * units[unit]
    except ValueError:
        raise InputError(field, text, "must be a duration such as 90s, 10m or 1h") from None
    if not 0 < value <= 24 * 3600:
        raise InputError(field, text, "must be between 1 s and 24 h")
    return value


@dataclass(slots=True, kw_only=True)
class Outcome:
    arrivals_s: float  # how long arrivals ran
    drained: bool  # every iteration finished inside the drain
    open_at_end: int  # iterations still running when the drain ran out (cancelled)


async def drive(
    load: Load, iteration: Iteration, recorder: Recorder, *, title: str, console: Console
) -> Outcome:
    """Run the load until its arrivals stop and its iterations drain (or the drain ends)."""
    running: set[asyncio.Task[None]] = set()
    stop_at = time.monotonic() + load.duration_s if load.duration_s else None
    numbers = iter(range(load.count if load.count is not None else 2**62))

    async def one(n: int) -> None:
        recorder.started()
        began = time.monotonic()
        try:
            outcome = await iteration(n)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            recorder.failed(exc)
        else:
            recorder.completed(outcome, time.monotonic() - began)

    def more() -> int | None:
        if stop_at is not None and time.monotonic() >= stop_at:
            return None
        return next(numbers, None)

    async def open_loop(rate: float) -> None:
        gaps = random.Random(load.seed)
        next_at = time.monotonic()
        while (n := more()) is not None:
            task = asyncio.create_task(one(n))
            running.add(task)
            task.add_done_callback(running.discard)
            next_at += gaps.expovariate(rate)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def closed_loop(concurrency: int) -> None:
        async def lane() -> None:
            while (n := more()) is not None:
                await one(n)

        lanes = [asyncio.create_task(lane()) for _ in range(concurrency)]
        running.update(lanes)
        for lane_task in lanes:
            lane_task.add_done_callback(running.discard)
        await asyncio.gather(*lanes, return_exceptions=True)

    began = time.monotonic()
    with Live(_line(title, recorder, 0.0), console=console, refresh_per_second=2) as live:
        shown = asyncio.create_task(_show(live, title, recorder))
        try:
            if load.rate is not None:
                arrivals = asyncio.create_task(open_loop(load.rate))
            else:
                assert load.concurrency is not None
                arrivals = asyncio.create_task(closed_loop(load.concurrency))
            # Arrivals end by themselves; a closed loop's lanes end with them, so the drain
            # timer runs from the end of arrivals either way.
            if load.rate is not None:
                await arrivals
            else:
                await asyncio.wait({arrivals}, timeout=load.duration_s)
            arrivals_s = time.monotonic() - began
            if running or not arrivals.done():
                await asyncio.wait({*running, arrivals}, timeout=load.drain_s or None)
            left = [t for t in running if not t.done()]
            for task in [*left, arrivals]:
                task.cancel()
            await asyncio.gather(*left, arrivals, return_exceptions=True)
        finally:
            shown.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shown
            live.update(_line(title, recorder, time.monotonic() - began))
    return Outcome(arrivals_s=arrivals_s, drained=not left, open_at_end=len(left))


async def _show(live: Live, title: str, recorder: Recorder) -> None:
    began = time.monotonic()
    while True:
        await asyncio.sleep(0.5)
        live.update(_line(title, recorder, time.monotonic() - began))


def _line(title: str, recorder: Recorder, elapsed: float) -> Text:
    recent = [t for t in recorder.completions if t > recorder.now() - 10]
    rate = len(recent) / min(10.0, max(elapsed, 1e-9)) if elapsed else 0.0
    return Text(
        f"{title}: {elapsed:5.0f} s  started {len(recorder.starts)}  "
        f"completed {len(recorder.completions)}  errors {sum(recorder.errors.values())}  "
        f"open {recorder.open}  rate {rate:.1f}/s"
    )
