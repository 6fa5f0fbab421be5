"""What a load test measures while it runs, and the figures it reports: arrivals and
completions over time, latency percentiles per step and end to end, errors by type, and the
CPU and memory of the processes under load.

Latencies are measured in real seconds; program days are the same durations read on the
deployment's compressed clock (seconds / seconds per day)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

try:  # psutil when the environment has it; /proc otherwise
    import psutil  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - the project's venv has psutil
    psutil = None

PERCENTILES = (50, 90, 99)


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile by the nearest-rank method (no interpolation: a figure that was
    really measured).

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.0
    """
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """Percentiles of one step's latencies, in real seconds and in program days."""

    step: str
    count: int
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float
    p50_days: float
    p90_days: float
    p99_days: float
    max_days: float


def latency(step: str, values: list[float], seconds_per_day: float) -> Latency:
    ordered = sorted(values)
    p50, p90, p99 = (percentile(ordered, p) for p in PERCENTILES)
    top = ordered[-1] if ordered else math.nan
    per_day = seconds_per_day if seconds_per_day > 0 else math.nan
    return Latency(
        step=step,
        count=len(ordered),
        p50_s=p50,
        p90_s=p90,
        p99_s=p99,
        max_s=top,
        p50_days=p50 / per_day,
        p90_days=p90 / per_day,
        p99_days=p99 / per_day,
        max_days=top / per_day,
    )


@dataclass(slots=True)
class Recorder:
    """Everything one phase of a load test counts. Single-threaded (the event loop's)."""

    started_at: float = field(default_factory=time.monotonic)
    starts: list[float] = field(default_factory=list)  # seconds since started_at
    completions: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    steps: dict[str, list[float]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)

    def now(self) -> float:
        return time.monotonic() - self.started_at

    def started(self) -> None:
        self.starts.append(self.now())

    def completed(self, outcome: str, end_to_end_s: float) -> None:
        self.completions.append(self.now())
        self.outcomes[outcome] += 1
        self.step("end_to_end", end_to_end_s)

    def failed(self, error: BaseException) -> None:
        kind = type(error).__name__
        cause = getattr(error, "cause", None)
        if cause is not None:
            kind = f"{kind}({type(cause).__name__})"
        self.errors[kind] += 1
        self.error_examples.setdefault(kind, str(cause or error)[:300])

    def step(self, name: str, seconds: float) -> None:
        self.steps.setdefault(name, []).append(seconds)

    @property
    def open(self) -> int:
        return len(self.starts) - len(self.completions) - sum(self.errors.values())

    def per_second(self, times: list[float], until: float) -> list[tuple[float, float]]:
        """Events per second, one point per whole second of the phase."""
        counts = Counter(int(t) for t in times)
        return [(float(s), float(counts.get(s, 0))) for s in range(math.ceil(until))]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessSample:
    at_s: float
    role: str  # "worker", "server", "load generator"
    cpu_percent: float  # of one core, summed over the role's processes
    rss_mib: float


class ProcessSampler:
    """Samples the CPU and resident memory of the processes under load once a second, in a
    thread of its own, by role (each role's processes and their children summed)."""

    def __init__(self, roles: dict[str, list[int]], *, every_s: float = 1.0) -> None:
        self._roles = roles
        self._every_s = every_s
        self._started = time.monotonic()
        self.samples: list[ProcessSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)
        self._last: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, at)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            at = time.monotonic()
            owners = owner_roles({role: _with_children(pids) for role, pids in self._roles.items()})
            for role in self._roles:
                cpu = rss = 0.0
                for pid in (p for p, owner in owners.items() if owner == role):
                    seconds, resident = _usage(pid)
                    if seconds is None:
                        continue
                    before = self._last.get(pid)
                    self._last[pid] = (seconds, at)
                    if before is not None and at > before[1]:
                        cpu += 100 * (seconds - before[0]) / (at - before[1])
                    rss += resident
                self.samples.append(
                    ProcessSample(
                        at_s=at - self._started,
                        role=role,
                        cpu_percent=round(cpu, 1),
                        rss_mib=round(rss / 2**20, 1),
                    )
                )

    def summary(self) -> dict[str, dict[str, float]]:
        """Per role: mean and peak CPU (% of one core) and peak resident memory (MiB)."""
        out: dict[str, dict[str, float]] = {}
        for role in self._roles:
            mine = [s for s in self.samples if s.role == role]
            if not mine:
                continue
            out[role] = {
                "cpu_mean_percent": round(sum(s.cpu_percent for s in mine) / len(mine), 1),
                "cpu_peak_percent": max(s.cpu_percent for s in mine),
                "rss_peak_mib": max(s.rss_mib for s in mine),
            }
        return out


def owner_roles(trees: dict[str, list[int]]) -> dict[int, str]:
    """Each process once, for the narrowest role whose tree holds it: the load generator
    starts the dev server and the workers, so its own tree holds theirs too (counted there,
    the server's CPU showed under the load generator and as 0 under its own role)."""
    owners: dict[int, str] = {}
    for role, tree in sorted(trees.items(), key=lambda item: len(set(item[1]))):
        for pid in tree:
            owners.setdefault(pid, role)
    return owners


def _with_children(pids: list[int]) -> list[int]:
    if psutil is None:
        return pids
    found: list[int] = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            found += [pid, *(c.pid for c in process.children(recursive=True))]
        except psutil.Error:
            continue
    return found


def _usage(pid: int) -> tuple[float | None, float]:
    """(CPU seconds used so far, resident bytes) of a process; None when it is gone."""
    if psutil is not None:
        try:
            process = psutil.Process(pid)
            times = process.cpu_times()
            return times.user + times.system, float(process.memory_info().rss)
        except psutil.Error:
            return None, 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None, 0.0
    ticks = 100.0  # USER_HZ on Linux
    page = 4096.0
    return (int(stat[11]) + int(stat[12])) / ticks, int(statm[1]) * page
