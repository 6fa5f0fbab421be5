"""Run a settlement step (lock, debit, retry) here or as a Ray Job: the one place that decides.

The command line (`mutualaid settle ...`) and the period workflow's activities both come
here, so a step runs the same way whoever asks for it:

- No Ray job server configured (`MUTUALAID_RAY_ADDRESS` empty, `auto`, `host:port` or
  `ray://...`): the engine runs the step in this process, its shard tasks on `ctx.executor`.
- A job server configured (`MUTUALAID_RAY_ADDRESS=http://head:8265`): the step runs as a Ray
  Job, `mutualaid settle <step>` on the cluster, under the step's deterministic submission id
  (`settlement.jobs`): a running or succeeded job of the step is followed, a failed or stopped
  one gets a new attempt id and runs again. The result is then read from the committed state
  (`settlement.outcome`), exactly as a local run returns it, never from the job's log.

`already_done` in cluster mode: True when the step was committed before this call asked for
it (read from the committed state before anything is submitted), so a second call of a done
step says "already done" as a local re-run does. Two callers racing on a step that neither
found committed both get False. The counts are the committed ones either way (a local re-run
of a lock reports zero joined/exited/aged_out and a debit `removed=None`; the cluster reports
the committed figures).

A job that fails with one of the program's exit codes raises that kind of error here (bad
input, refused, not yet, data integrity), so the workflow's retry behaviour is the one a local
run gets; any other failure raises `JobFailedError`, which Temporal retries (and the retry
submits the step again under a new attempt id).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Generic, TypeVar

from infra.config import PREFIX, Settings, load_settings
from mutualaid.calendar import publicity_day_for
from mutualaid.errors import InputError, InvariantError
from settlement import engine
from settlement.engine import DEFAULT_OPENING_FUNDS_FEN, LockResult, RunResult, Settlement
from settlement.jobs import JobOutcome, run_as_job, submission_id
from settlement.outcome import lock_outcome, run_outcome

R = TypeVar("R", LockResult, RunResult)


class _Configured(Enum):
    FROM_SETTINGS = "from settings"


FROM_SETTINGS = _Configured.FROM_SETTINGS
"""Decide from the environment's settings (`MUTUALAID_RAY_ADDRESS`) whether a step runs here
or as a Ray Job."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobServer:
    """A Ray cluster's job server and what a step's job needs to reach this deployment."""

    address: str  # http://head:8265
    database_url: str  # absolute: the job runs in another working directory
    env: Mapping[str, str] = field(default_factory=dict)  # the job process's MUTUALAID_*
    python: str = sys.executable  # the cluster runs the same image as the submitter
    timeout_s: float = 24 * 3600
    poll_s: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class Ran(Generic[R]):
    """A step's result and, in cluster mode, the Ray Job that ran (or had run) it."""

    result: R
    job: JobOutcome | None  # None: the step ran in this process


def job_server(settings: Settings, environ: Mapping[str, str] | None = None) -> JobServer | None:
    """The job server steps are submitted to, when `MUTUALAID_RAY_ADDRESS` names one
    (http:// or https://); None when steps run in this process."""
    address = settings.ray_address or ""
    if not address.startswith(("http://", "https://")):
        return None
    source = os.environ if environ is None else environ
    database_url = _absolute_sqlite(settings.database_url)
    env = {k: v for k, v in source.items() if k.startswith(PREFIX)}
    env |= {
        PREFIX + "RAY_ADDRESS": "auto",
        PREFIX + "STATE_DIR": _absolute(str(settings.state_dir)),
        PREFIX + "DATABASE_URL": database_url,
    }
    return JobServer(address=address, database_url=database_url, env=env)


def deployment(store_root: str, database_url: str) -> str:
    """What tells this deployment's runs from another's on a shared cluster: its store and
    its database, as absolute locations."""
    return f"{_absolute(store_root)}|{_absolute_sqlite(database_url)}"


# -- the steps, here or on the cluster ---------------------------------------------------


def lock_step(
    ctx: Settlement,
    publicity_date: date,
    *,
    now: datetime,
    opening_funds_fen: int = DEFAULT_OPENING_FUNDS_FEN,
    jobs: JobServer | _Configured | None = FROM_SETTINGS,
) -> Ran[LockResult]:
    """Lock a period's roster (`engine.lock_roster`), here or as a Ray Job."""
    server = _resolve(jobs)
    if server is None:
        result = engine.lock_roster(
            ctx, publicity_date, now=now, opening_funds_fen=opening_funds_fen
        )
        return Ran(result=result, job=None)
    if opening_funds_fen != DEFAULT_OPENING_FUNDS_FEN:
        raise InputError(
            "opening_funds_fen",
            opening_funds_fen,
            f"a lock run as a Ray Job opens accounts with the default {DEFAULT_OPENING_FUNDS_FEN}",
        )
    day = publicity_date.isoformat()
    return _on_cluster(
        ctx,
        server,
        submission=submission_id(ctx.plan.id, "lock", day, deployment=_tag(ctx, server)),
        step=["lock", "--publicity-date", day],
        now=now,
        outcome=lambda already: lock_outcome(ctx, publicity_date, already_done=already),
    )


def debit_step(
    ctx: Settlement,
    sharing_date: date,
    *,
    now: datetime,
    cases_fen: Sequence[int] | None = None,
    aid_fen: int | None = None,
    jobs: JobServer | _Configured | None = FROM_SETTINGS,
) -> Ran[RunResult]:
    """The sharing-day debit (`engine.debit`), here or as a Ray Job."""
    server = _resolve(jobs)
    if server is None:
        result = engine.debit(ctx, sharing_date, now=now, cases_fen=cases_fen, aid_fen=aid_fen)
        return Ran(result=result, job=None)
    # A period with no cleared case has an aid of 0, which `--aid-fen 0` says.
    aid = (
        [f"--case-fen={fen}" for fen in cases_fen]
        if cases_fen
        else ["--aid-fen", str(aid_fen or 0)]
    )
    publicity = publicity_day_for(sharing_date)
    day = sharing_date.isoformat()
    return _on_cluster(
        ctx,
        server,
        submission=submission_id(ctx.plan.id, "debit", day, 0, deployment=_tag(ctx, server)),
        step=["debit", "--sharing-date", day, *aid],
        now=now,
        outcome=lambda already: run_outcome(ctx, publicity, 0, already_done=already),
    )


def retry_step(
    ctx: Settlement,
    sharing_date: date,
    *,
    now: datetime,
    attempt: int | None = None,
    jobs: JobServer | _Configured | None = FROM_SETTINGS,
) -> Ran[RunResult]:
    """A debit retry (`engine.retry`), here or as a Ray Job. Without `attempt`, the next one
    after the last committed attempt, decided here before anything is submitted."""
    server = _resolve(jobs)
    if server is None:
        return Ran(result=engine.retry(ctx, sharing_date, now=now, attempt=attempt), job=None)
    publicity = publicity_day_for(sharing_date)
    wanted = attempt if attempt is not None else engine.next_retry_attempt(ctx, sharing_date)
    day = sharing_date.isoformat()
    return _on_cluster(
        ctx,
        server,
        submission=submission_id(ctx.plan.id, "retry", day, wanted, deployment=_tag(ctx, server)),
        step=["retry", "--sharing-date", day, "--attempt", str(wanted)],
        now=now,
        outcome=lambda already: run_outcome(ctx, publicity, wanted, already_done=already),
    )


# Drop-in replacements for the engine's functions, with the same signatures: what a caller
# that wants only the result (the period activities) calls.


def lock_roster(
    ctx: Settlement,
    publicity_date: date,
    *,
    now: datetime,
    opening_funds_fen: int = DEFAULT_OPENING_FUNDS_FEN,
    jobs: JobServer | _Configured | None = FROM_SETTINGS,
) -> LockResult:
    return lock_step(
        ctx, publicity_date, now=now, opening_funds_fen=opening_funds_fen, jobs=jobs
    ).result


def debit(
    ctx: Settlement,
    sharing_date: date,
    *,
    now: datetime,
    cases_fen: Sequence[int] | None = None,
    aid_fen: int | None = None,
    jobs: JobServer | _Configured | None = FROM_SETTINGS,
) -> RunResult:
    step = debit_step(ctx, sharing_date, now=now, cases_fen=cases_fen, aid_fen=aid_fen, jobs=jobs)
    return step.result


def retry(
    ctx: Settlement,
    sharing_date: date,
    *,
    now: datetime,
    attempt: int | None = None,
    jobs: JobServer | _Configured | None = FROM_SETTINGS,
) -> RunResult:
    return retry_step(ctx, sharing_date, now=now, attempt=attempt, jobs=jobs).result


# -- cluster mode --------------------------------------------------------------------------


def _on_cluster(
    ctx: Settlement,
    server: JobServer,
    *,
    submission: str,
    step: Sequence[str],
    now: datetime,
    outcome: Callable[[bool], R | None],
) -> Ran[R]:
    """Run `mutualaid settle <step>` as the step's Ray Job, then read what it committed."""
    before = outcome(True)  # was it committed before this call asked for it?
    command = [server.python, "-m", "workers.cli", "settle", *step, "--plan", ctx.plan.id]
    command += ["--store", _absolute(ctx.store_root), "--as-of", _moment(now), "--json"]
    # The wait reports through the step's progress hook (an activity's heartbeat), so a
    # long job does not look like a dead worker.
    progress = ctx.progress(f"{step[0]} as a Ray job") if ctx.progress is not None else None
    job = run_as_job(
        server.address,
        submission=submission,
        command=command,
        env=server.env,
        timeout_s=server.timeout_s,
        poll_s=server.poll_s,
        on_poll=(lambda _id, _status: progress(0, 1)) if progress is not None else None,
    )
    result = outcome(before is not None)
    if result is None:
        raise InvariantError(
            f"Ray job {job.submission_id} succeeded but `settle {step[0]}` of "
            f"{ctx.plan.id} is not committed"
        )
    return Ran(result=result, job=job)


def _resolve(jobs: JobServer | _Configured | None) -> JobServer | None:
    if isinstance(jobs, _Configured):
        return job_server(load_settings())
    return jobs


def _tag(ctx: Settlement, server: JobServer) -> str:
    return deployment(ctx.store_root, server.database_url)


def _absolute(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def _absolute_sqlite(url: str) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


def _moment(now: datetime) -> str:
    """`now` as `--as-of` takes it: whole seconds (down, so never before a cut-off it has
    passed), with its offset."""
    if now.tzinfo is None:
        raise InputError("now", now.isoformat(), "must carry a time zone")
    return now.isoformat(timespec="seconds")
