"""Cluster mode: a settlement step submitted as a Ray Job with a deterministic submission id.

The job runs the same `mutualaid settle ...` command on the cluster, where it joins the
cluster's Ray (`MUTUALAID_RAY_ADDRESS=auto`). Ray keeps submission ids unique, so a second
submission of the same step is refused by Ray itself; the submitter then follows the job
that already exists instead of starting another.

A job that FAILED or was STOPPED is never followed again: its step gets the next attempt id
(`<id>-r1`, `<id>-r2`, ...) and runs again. Which attempt id a submission uses is decided from
what the job server holds, walking the ids in order: the first one that is running, pending or
succeeded is followed; the first one unknown to the server is submitted. Two submitters racing
for one id end up on the same job (Ray refuses the second, which then follows the first).

This module only runs the job and says how it ended. What the step did is read back from the
committed state (SQL and the store, `settlement.outcome`), never from the job's log; the log is
read only to say why a job failed.
"""

from __future__ import annotations

import hashlib
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from ray.job_submission import JobStatus, JobSubmissionClient

from mutualaid.errors import EXIT_CODES, ExplainedError, InputError, MutualAidError

_FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
# A job in one of these states is over for good without having done its step: the step
# gets a new attempt id and runs again.
_RERUN = {JobStatus.FAILED, JobStatus.STOPPED}
# How many attempt ids of one step a submitter walks before it gives up (a step that failed
# this often needs an operator, not another job).
MAX_RERUNS = 1000


class JobFailedError(MutualAidError):
    """The cluster ran the step and it failed for a reason the program did not name (a crash,
    a stopped job, a lost node): asking again runs it again under a new attempt id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutcome:
    """How a step's Ray Job ended. It holds nothing of the step's result: that is read from
    the committed state."""

    submission_id: str  # the attempt id that succeeded
    submitted: bool  # False: an existing job of this step was followed
    status: str
    passed_over: tuple[str, ...] = ()  # attempt ids that had failed or been stopped


def submission_id(
    plan_id: str, step: str, day: str, attempt: int | None = None, *, deployment: str = ""
) -> str:
    """`mutualaid-chronic-debit-2026-12-14-a0-1f2e3d4c`: the same step of the same deployment
    (its store and database) always gets the same id; two deployments sharing a Ray cluster
    never collide.

    >>> submission_id("chronic", "debit", "2026-12-14", 0, deployment="s3://a|postgresql://b")
    'mutualaid-chronic-debit-2026-12-14-a0-1e257097'
    """
    suffix = f"-a{attempt}" if attempt is not None else ""
    tag = hashlib.sha256(deployment.encode()).hexdigest()[:8]
    return f"mutualaid-{plan_id}-{step}-{day}{suffix}-{tag}"


def attempt_ids(submission: str) -> Iterator[str]:
    """The ids one step's jobs take, in order: the step's own id, then one per re-run.

    >>> ids = attempt_ids("mutualaid-chronic-lock-2026-12-07-1e257097")
    >>> [next(ids) for _ in range(3)]  # doctest: +NORMALIZE_WHITESPACE
    ['mutualaid-chronic-lock-2026-12-07-1e257097', 'mutualaid-chronic-lock-2026-12-07-1e257097-r1',
     'mutualaid-chronic-lock-2026-12-07-1e257097-r2']
    """
    yield submission
    for rerun in count(1):
        yield f"{submission}-r{rerun}"


def run_as_job(
    address: str,
    *,
    submission: str,
    command: Sequence[str],
    env: Mapping[str, str],
    timeout_s: float = 24 * 3600,
    poll_s: float = 0.5,
    on_poll: Callable[[str, str], None] | None = None,
) -> JobOutcome:
    """Run `command` as the step's Ray Job and wait for it: follow the step's job when one is
    running, pending or has succeeded; submit it under the next attempt id when every earlier
    one failed or was stopped (or none exists). `on_poll(attempt id, status)` is called each
    time the job is looked at while it runs (an activity heartbeats from it).

    Raises when the job does not succeed: the program's own error kind when the step exited
    with one of its exit codes (so a refusal is final and "not yet" waits, as in a local run),
    `JobFailedError` otherwise."""
    client = _client(address)
    known = _jobs_of(client, submission)
    passed_over: list[str] = []
    for attempt in attempt_ids(submission):
        if len(passed_over) > MAX_RERUNS:
            raise JobFailedError(
                f"job {submission} failed {len(passed_over)} times; look at its attempts"
            )
        status = known.get(attempt)
        if status is None:
            submitted = _submit(client, attempt, command, env)
            # Not submitted: another submitter took this id first; follow its job.
            break
        if status in _RERUN:
            passed_over.append(attempt)
            continue
        submitted = False
        break
    final = _wait(client, attempt, timeout_s=timeout_s, poll_s=poll_s, on_poll=on_poll)
    if final != JobStatus.SUCCEEDED:
        raise _failure(client, attempt, final)
    return JobOutcome(
        submission_id=attempt,
        submitted=submitted,
        status=str(final),
        passed_over=tuple(passed_over),
    )


def _client(address: str) -> JobSubmissionClient:
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError("MUTUALAID_RAY_ADDRESS", address, f"no Ray job server: {exc}") from None


def _jobs_of(client: JobSubmissionClient, submission: str) -> dict[str, JobStatus]:
    """The status of every job the server holds under one of the step's attempt ids."""
    return {
        job.submission_id: JobStatus(job.status)
        for job in client.list_jobs()
        if job.submission_id is not None
        and (job.submission_id == submission or job.submission_id.startswith(submission + "-r"))
    }


def _submit(
    client: JobSubmissionClient, attempt: str, command: Sequence[str], env: Mapping[str, str]
) -> bool:
    """Submit the job under `attempt`; False when Ray refused it because the id exists."""
    try:
        client.submit_job(
            entrypoint=shlex.join(command),
            submission_id=attempt,
            runtime_env={"env_vars": dict(env)},
        )
    except RuntimeError as exc:
        if "already exists" not in str(exc):
            raise
        return False
    return True


def _wait(
    client: JobSubmissionClient,
    attempt: str,
    *,
    timeout_s: float,
    poll_s: float,
    on_poll: Callable[[str, str], None] | None,
) -> JobStatus:
    deadline = time.monotonic() + timeout_s
    status = JobStatus(client.get_job_status(attempt))
    while status not in _FINISHED:
        if on_poll is not None:
            on_poll(attempt, str(status))
        if time.monotonic() > deadline:
            raise JobFailedError(f"job {attempt} still {status} after {timeout_s:.0f}s")
        time.sleep(poll_s)
        status = JobStatus(client.get_job_status(attempt))
    return status


def _failure(client: JobSubmissionClient, attempt: str, status: JobStatus) -> MutualAidError:
    """The error a failed job stands for: the step's own kind of error when it exited with
    one of the program's exit codes, with the step's one-line message."""
    info: Any = client.get_job_info(attempt)
    exit_code: int | None = getattr(info, "driver_exit_code", None)
    logs = client.get_job_logs(attempt)
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    last = lines[-1] if lines else (getattr(info, "message", None) or "no log")
    last = last.removeprefix("error: ")
    kind = (
        _ERROR_FOR_EXIT.get(exit_code)
        if status == JobStatus.FAILED and exit_code is not None
        else None
    )
    if kind is None:
        code = f" (exit code {exit_code})" if exit_code is not None else ""
        return JobFailedError(f"job {attempt} {status}{code}: {last}")
    return kind("job", attempt, last)


def _errors_by_exit_code() -> dict[int, type[ExplainedError]]:
    """The first explained error kind listed for each exit code of the command line."""
    kinds: dict[int, type[ExplainedError]] = {}
    for kind, code in EXIT_CODES:
        if issubclass(kind, ExplainedError) and code not in kinds:
            kinds[code] = kind
    return kinds


_ERROR_FOR_EXIT = _errors_by_exit_code()
