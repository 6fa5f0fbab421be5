"""Cluster mode: a settlement step submitted as a Ray Job with a deterministic submission id.

The job runs the same `mutualaid settle ...` command on the cluster, where it joins the
cluster's Ray (`MUTUALAID_RAY_ADDRESS=auto`). Ray keeps submission ids unique, so a second
submission of the same step is refused by Ray itself; the submitter then follows the job
that already exists instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ray.job_submission import JobStatus, JobSubmissionClient

from mutualaid.errors import InputError, MutualAidError

_FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}


class JobFailedError(MutualAidError):
    """The cluster ran the step and it failed; its log says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutcome:
    submission_id: str
    submitted: bool  # False: Ray refused a duplicate and we followed the existing job
    status: str
    result: dict[str, Any]


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


def run_as_job(
    address: str,
    *,
    submission: str,
    command: Sequence[str],
    env: Mapping[str, str],
    timeout_s: float = 24 * 3600,
) -> JobOutcome:
    """Submit `command` (which prints one JSON document) and wait for it."""
    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError("MUTUALAID_RAY_ADDRESS", address, f"no Ray job server: {exc}") from None
    entrypoint = shlex.join(command)
    submitted = True
    try:
        client.submit_job(
            entrypoint=entrypoint,
            submission_id=submission,
            runtime_env={"env_vars": dict(env)},
        )
    except RuntimeError as exc:
        if "already exists" not in str(exc):
            raise
        submitted = False
    deadline = time.monotonic() + timeout_s
    status = client.get_job_status(submission)
    while status not in _FINISHED:
        if time.monotonic() > deadline:
            raise JobFailedError(f"job {submission} still {status} after {timeout_s:.0f}s")
        time.sleep(0.5)
        status = client.get_job_status(submission)
    logs = client.get_job_logs(submission)
    if status != JobStatus.SUCCEEDED:
        last = [line for line in logs.strip().splitlines() if line.strip()][-1:] or ["no log"]
        raise JobFailedError(f"job {submission} {status}: {last[0]}")
    return JobOutcome(
        submission_id=submission,
        submitted=submitted,
        status=str(status),
        result=_last_json(logs),
    )


def _last_json(logs: str) -> dict[str, Any]:
    """The step's JSON document: the last top-level `{...}` block in the job's log."""
    start = logs.rfind("\n{")
    start = 0 if start < 0 and logs.startswith("{") else start + 1
    try:
        parsed: dict[str, Any] = json.loads(logs[start:])
    except json.JSONDecodeError:
        raise JobFailedError("the job's log holds no result document") from None
    return parsed
