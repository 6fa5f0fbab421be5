"""Where shard tasks run: in this process (tests, tiny stores) or as plain Ray tasks.

A task is a module-level function and its arguments; it returns a small value (a typed
outcome, `settlement.run_plan`). Every task is idempotent (it skips work whose done marker is
valid), so Ray may retry one after a worker dies without changing the result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import ray

R = TypeVar("R")
Progress = Callable[[int, int], None]
# The positional arguments of one call of a task.
Call = tuple[Any, ...]


class Executor(Protocol):
    def map(
        self, task: Callable[..., R], calls: Sequence[Call], *, on_done: Progress | None = None
    ) -> list[R]: ...


class InlineExecutor:
    """Runs each call in turn in this process."""

    def map(
        self, task: Callable[..., R], calls: Sequence[Call], *, on_done: Progress | None = None
    ) -> list[R]:
        results = []
        for index, args in enumerate(calls):
            results.append(task(*args))
            if on_done is not None:
                on_done(index + 1, len(calls))
        return results


class RayExecutor:
    """One plain Ray task per call, with at most `max_in_flight` outstanding so memory stays
    bounded whatever the shard count. Results come back in call order.

    Ray starts (or is joined) on the first map, so a step that stops on bad input never pays
    for starting a cluster."""

    def __init__(
        self,
        *,
        address: str | None = None,
        max_in_flight: int | None = None,
        max_retries: int = 3,
    ) -> None:
        self._address = address
        self._max_in_flight = max_in_flight
        self._max_retries = max_retries

    def map(
        self, task: Callable[..., R], calls: Sequence[Call], *, on_done: Progress | None = None
    ) -> list[R]:
        start_ray(self._address)
        if self._max_in_flight is None:
            resources = ray.available_resources()  # type: ignore[no-untyped-call]
            self._max_in_flight = max(1, int(resources.get("CPU", os.cpu_count() or 1))) * 2
        remote = ray.remote(max_retries=self._max_retries, retry_exceptions=False)(task)
        results: dict[int, R] = {}
        pending: dict[Any, int] = {}
        next_call = 0
        while next_call < len(calls) or pending:
            while next_call < len(calls) and len(pending) < self._max_in_flight:
                pending[remote.remote(*calls[next_call])] = next_call
                next_call += 1
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                results[pending.pop(ref)] = ray.get(ref)
                if on_done is not None:
                    on_done(len(results), len(calls))
        return [results[i] for i in range(len(calls))]


def executor_for(address: str | None) -> Executor:
    """The executor for shard work a process runs itself (reconciling, verifying): Ray, local
    or joined by a GCS address, or, where the address is a Ray job server (http://...), this
    process. A job-server address says this process is a client of the cluster: its steps run
    there as Ray Jobs (`settlement.steps`), and `ray.init` cannot join by that address."""
    if address and address.startswith(("http://", "https://")):
        return InlineExecutor()
    return RayExecutor(address=address)


def start_ray(address: str | None) -> None:
    """Connect to a cluster by address, or start Ray in this process with the machine's CPUs
    and no dashboard (nothing to download, little memory)."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    else:
        ray.init(
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            object_store_memory=256 * 1024 * 1024,
        )
