"""Helpers for tests that run the real command line and servers, and for waiting on them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard, TypeVar

from temporalio.client import WorkflowHistory

BIN = Path(sys.executable).parent

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the installed `mutualaid` command the way an operator would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(BIN / "mutualaid"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.05, what: str
) -> T:
    """Await `check` every `interval` seconds until it returns something true without an
    AssertionError, and return that. Past `timeout` seconds fail, naming `what` was awaited
    and how the last check went (its AssertionError, or what it returned). The timeout is
    real time: queries and SQL reads do not advance the time-skipping server's clock.

    In the manner of sdk-python's tests' `assert_eventually`; any other exception is a
    failure at once, not a "not yet"."""
    patience = _Patience(timeout=timeout, what=what)
    while True:
        try:
            outcome: T | AssertionError = await check()
        except AssertionError as failure:
            outcome = failure
        if patience.holds(outcome):
            return outcome
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05, what: str
) -> T:
    """`eventually` for a blocking check (a command run as a process, a file read) in a test
    without an event loop."""
    patience = _Patience(timeout=timeout, what=what)
    while True:
        try:
            outcome: T | AssertionError = check()
        except AssertionError as failure:
            outcome = failure
        if patience.holds(outcome):
            return outcome
        time.sleep(interval)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Patience:
    """What `eventually` and `eventually_sync` share: whether a check's outcome ends the wait,
    and the failure once the time is up."""

    timeout: float
    what: str
    started: float = field(default_factory=time.monotonic)

    def holds(self, outcome: T | AssertionError) -> TypeGuard[T]:
        if outcome and not isinstance(outcome, AssertionError):
            return True
        if time.monotonic() - self.started < self.timeout:
            return False
        if isinstance(outcome, AssertionError):
            raise AssertionError(
                f"waited {self.timeout:g} s for {self.what}; last check: {outcome}"
            ) from outcome
        raise AssertionError(
            f"waited {self.timeout:g} s for {self.what}; last check returned {outcome!r}"
        )


def saved_history(path: Path, *, workflow_kind: str) -> WorkflowHistory:
    """A workflow history saved as JSON by `temporal workflow show --output json` (or the
    recorders in tests/workflows/histories), checked to start at the workflow's start."""
    text = path.read_text(encoding="utf-8")
    started = json.loads(text)["events"][0]
    assert started["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    return WorkflowHistory.from_json(f"{workflow_kind}-{path.stem}", text)
