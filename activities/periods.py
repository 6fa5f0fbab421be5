"""The period workflow's activities: thin adapters over the settlement engine and SQL.

Each is idempotent: the engine's steps are no-ops once committed and resume the same run
after a crash; SQL writes go through unique keys; a period's publicity list, once in SQL, is
the list (gathering or publishing again returns it, never other cases). Every step
heartbeats while it makes progress (`Pulse`: the engine's steps per shard, the list steps
per case), so a dead worker is noticed within the workflow's heartbeat timeout and the step
resumes on another worker, and a step stalled for the stall limit is retried.
"""

from __future__ import annotations

import contextvars
import functools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from temporalio import activity

from activities.failures import refusals_are_final
from infra.db import reading, unit_of_work
from infra.models import PeriodRow
from infra.repositories import (
    ClaimRepository,
    ObjectionRepository,
    PayoutRepository,
    PeriodRepository,
    PublicityEntry,
    PublicityRepository,
)
from mutualaid.calendar import age_on
from mutualaid.claim import ClaimState
from mutualaid.errors import InvariantError
from mutualaid.masking import mask_hospital, mask_id_number
from mutualaid.plan import Plan
from mutualaid.share import compute_share, payable_under_case_cap
from settlement.engine import DEFAULT_OPENING_FUNDS_FEN, Settlement, fix_share
from settlement.executor import Executor
from settlement.members import current_member
from settlement.reconcile_period import reconcile_period
from settlement.steps import debit, lock_roster, retry
from workflows import period_messages as msg

_OBJECTED = {ClaimState.REINVESTIGATING.value, ClaimState.FINALLY_DENIED.value}
_PUBLICISED = "publicised"  # an entry's outcome before the objection window closes
# Period states at which the publicity list is fixed (published, possibly empty).
_LIST_FIXED = {"share_fixed", "debiting", "closed"}


# How each step heartbeats. A ticker thread beats every PULSE_EVERY_S while the step makes
# progress, so a worker that dies is noticed within the workflow's heartbeat timeout (one
# minute) however long a shard takes. Progress is a shard finishing (the engine's
# `Settlement.progress`) or a case handled (the list steps); when none has come for
# STALL_AFTER_S the ticker stops beating, Temporal times the attempt out and retries it
# (the engine resumes the same run from its done markers).
# STALL_AFTER_S is sized from measured shard times. On this project's 2-core machine,
# 1,000,000 members in 8 shards (125,000 a shard), inline executor, 2026-12: lock 1.5 s
# (0.08-0.21 s a shard, 0.62 s before the first: freezing the run, checking the parent's
# files), debit 2.8 s (0.23-0.42 s a shard, about 3.4 us a member), retry 1.9 s (0.13-0.29 s
# a shard), reconciliation 1.7 s (per shard too). A store's shard count is fixed when it is
# created: at 105 million members in 256 shards (410,000 a shard) a shard is ~1.4 s, and a
# busy or slow Ray node 10-50x slower, about a minute. Ten minutes is over 400x the measured
# time of such a shard (a shard of ~170 million members at the measured speed), so a slow
# shard is never restarted for being slow, while a hung one is retried within ten minutes
# instead of the 6-hour start-to-close timeout.
PULSE_EVERY_S = 10.0
STALL_AFTER_S = 600.0
_pulse: contextvars.ContextVar[Pulse | None] = contextvars.ContextVar("pulse", default=None)


class Pulse:
    """The heartbeats of one activity attempt (see PULSE_EVERY_S)."""

    def __init__(self, *, every: float | None = None, stall_after: float | None = None):
        self._every = PULSE_EVERY_S if every is None else every
        self._stall_after = STALL_AFTER_S if stall_after is None else stall_after
        self._details: tuple[Any, ...] = ("started",)
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def progress(self, *details: Any) -> None:
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


F = TypeVar("F", bound=Callable[..., Any])


def pulsing(step: F) -> F:
    """Run an activity with its heartbeats (`Pulse`)."""

    @functools.wraps(step)
    def run(*args: Any, **kwargs: Any) -> Any:
        with Pulse():
            return step(*args, **kwargs)

    return cast(F, run)


def beat(*details: Any) -> None:
    """Report progress to the running step's heartbeats (outside an activity: nothing)."""
    pulse = _pulse.get()
    if pulse is not None:
        pulse.progress(*details)


class PeriodActivities:
    def __init__(
        self,
        *,
        engine: Engine,
        store_root: str,
        plans: Mapping[str, Plan],
        executor: Callable[[], Executor],
        publicity_dir: Path,
        opening_funds_fen: int = DEFAULT_OPENING_FUNDS_FEN,
    ) -> None:
        self._opening_funds_fen = opening_funds_fen
        self._engine = engine
        self._store_root = store_root
        self._plans = dict(plans)
        self._executor = executor
        self._publicity_dir = publicity_dir

    @property
    def all(self) -> list[Callable[..., Any]]:
        return [
            self.lock,
            self.gather,
            self.publish,
            self.close_window,
            self.fix_share,
            self.debit,
            self.retry,
            self.final_report,
            self.recorded,
        ]

    def _settlement(self, plan_id: str) -> Settlement:
        # Captured here: the engine may report a shard done from another thread.
        pulse = _pulse.get()

        def heartbeat(label: str) -> Callable[[int, int], None]:
            if pulse is None:
                return lambda done, total: None
            return lambda done, total: pulse.progress(f"{label}: {done}/{total}")

        return Settlement(
            db=self._engine,
            store_root=self._store_root,
            plan=self._plans[plan_id],
            executor=self._executor(),
            progress=heartbeat,
        )

    @activity.defn(name=msg.LOCK)
    @pulsing
    def lock(self, request: msg.LockRequest) -> msg.Locked:
        with refusals_are_final():
            ctx = self._settlement(request.plan_id)
            result = lock_roster(
                ctx,
                request.publicity_date,
                now=request.now,
                opening_funds_fen=self._opening_funds_fen,
            )
            with unit_of_work(self._engine) as session:
                period = PeriodRepository(session).get(request.plan_id, request.publicity_date)
                if period is None:
                    raise InvariantError(f"locked {request.publicity_date} but no period row")
                period_id = period.id
        sharing = ctx.plan.sharing
        return msg.Locked(
            period_id=period_id,
            members=result.members,
            objection_window_days=sharing.objection_window_days,
            retry_days=sharing.debit_retry_days,
            payout_deadline_days=sharing.payout_deadline_days,
        )

    @activity.defn(name=msg.GATHER)
    @pulsing
    def gather(self, request: msg.GatherRequest) -> msg.Gathered:
        """The approved cases this period publicises, masked for the public list. Once the
        period's list is in SQL it is the list: gathering again returns it."""
        beat("gather")
        cases = []
        with refusals_are_final(), reading(self._engine) as session:
            published = self._published(session, request.period_id)
            if published is not None:
                return msg.Gathered(cases=published)
            claims = PublicityRepository(session).approved_before(request.plan_id, request.cutoff)
            for number, claim in enumerate(claims, 1):
                beat(f"gather: {number}/{len(claims)}")
                member = current_member(self._store_root, session, claim.plan_id, claim.member_id)
                if claim.benefit_fen is None or member is None:
                    continue  # never approved with a benefit: not a case for a list
                cases.append(
                    msg.Case(
                        claim_id=claim.id,
                        masked_member=mask_id_number(f"{claim.member_id:08d}"),
                        age=age_on(member.birth_date, claim.diagnosis_date),
                        condition=claim.condition,
                        hospital=mask_hospital(claim.hospital),
                        benefit_fen=claim.benefit_fen,
                    )
                )
        return msg.Gathered(cases=tuple(cases))

    def _published(self, session: Session, period_id: int) -> tuple[msg.Case, ...] | None:
        """The period's list as published (None: not published yet). An empty list leaves no
        entry in SQL: it is known published by its file, or by a share fixed after it."""
        entries = PublicityRepository(session).entries(period_id)
        if entries:
            return tuple(
                msg.Case(
                    claim_id=e.claim_id,
                    masked_member=e.masked_member,
                    age=e.age,
                    condition=e.condition,
                    hospital=e.hospital,
                    benefit_fen=e.benefit_fen,
                )
                for e in entries
            )
        period = PeriodRepository(session).by_id(period_id)
        if period.state in _LIST_FIXED or self._list_file(period).exists():
            return ()
        return None

    def _list_file(self, period: PeriodRow) -> Path:
        return self._publicity_dir / period.plan_id / f"{period.publicity_date.isoformat()}.json"

    @activity.defn(name=msg.PUBLISH)
    @pulsing
    def publish(self, request: msg.PublishRequest) -> msg.Published:
        """The list in SQL and as a JSON file, with the provisional share (all cases cleared,
        the previous period's surplus carried). Published once: publishing again returns the
        list already published (and rewrites its file only if it was lost)."""
        beat("publish")
        plan = self._plans[request.plan_id]
        with refusals_are_final(), unit_of_work(self._engine) as session:
            periods = PeriodRepository(session)
            period = periods.by_id(request.period_id)
            publicity = PublicityRepository(session)
            already = publicity.entries(request.period_id)
            if already:
                cases = self._published(session, request.period_id) or ()
                share_fen = already[0].provisional_share_fen
            else:
                previous = periods.previous(request.plan_id, request.publicity_date)
                surplus = previous.surplus_out_fen or 0 if previous is not None else 0
                provisional = compute_share(
                    aid_fen=sum(c.benefit_fen for c in request.cases),
                    surplus_in_fen=surplus,
                    members=period.members or 0,
                    fee_rate=plan.sharing.fee_rate,
                )
                cases, share_fen = request.cases, provisional.share_fen
                publicity.publish(
                    request.period_id,
                    # A case on the list is the same record as its SQL entry.
                    [PublicityEntry(**asdict(c)) for c in cases],
                    share_fen=share_fen,
                    at=datetime.now(UTC),
                )
            path = self._list_file(period)
            members = period.members or 0
        if already and path.exists():
            return msg.Published(provisional_share_fen=share_fen, list_file=str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "plan": request.plan_id,
            "publicity_date": request.publicity_date.isoformat(),
            "members": members,
            "provisional_share_fen": share_fen,
            "cases": [asdict(c) for c in cases],
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1))
        temporary.replace(path)
        return msg.Published(provisional_share_fen=share_fen, list_file=str(path))

    @activity.defn(name=msg.CLOSE_WINDOW)
    @pulsing
    def close_window(self, request: msg.CloseWindowRequest) -> msg.WindowClosed:
        """Which cases an objection took out of the period (the claim moved to
        re-investigation, or an objection is on file) and which cleared."""
        beat("close window")
        cleared: list[str] = []
        objected: list[str] = []
        with refusals_are_final(), unit_of_work(self._engine) as session:
            objections = ObjectionRepository(session)
            publicity = PublicityRepository(session)
            claims = ClaimRepository(session)
            decided = {
                e.claim_id: e.outcome
                for e in publicity.entries(request.period_id)
                if e.outcome != _PUBLICISED
            }
            for number, claim_id in enumerate(request.claim_ids, 1):
                beat(f"close window: {number}/{len(request.claim_ids)}")
                if claim_id in decided:  # closed before: the outcome stands
                    (cleared if decided[claim_id] == "cleared" else objected).append(claim_id)
                    continue
                claim = claims.get(claim_id)
                out = (
                    claim is None
                    or claim.state in _OBJECTED
                    or objections.count(claim_id=claim_id, period_id=request.period_id) > 0
                )
                (objected if out else cleared).append(claim_id)
                publicity.set_outcome(request.period_id, claim_id, "objected" if out else "cleared")
        return msg.WindowClosed(cleared=tuple(cleared), objected=tuple(objected))

    @activity.defn(name=msg.FIX_SHARE)
    @pulsing
    def fix_share(self, request: msg.ShareRequest) -> msg.ShareFixed:
        beat("fix share")
        plan = self._plans[request.plan_id]
        with refusals_are_final():
            ctx = self._settlement(request.plan_id)
            with unit_of_work(self._engine) as session:
                period = PeriodRepository(session).get(request.plan_id, request.publicity_date)
                if period is None or period.members is None:
                    raise InvariantError(f"share asked for {request.publicity_date}: not locked")
                members = period.members
            payouts = list(request.benefits_fen)
            if plan.sharing.per_case_cap_enabled:
                payouts = payable_under_case_cap(
                    payouts, members=members, per_member_cap_fen=plan.sharing.per_case_cap_fen
                )
            share = fix_share(ctx, request.publicity_date, aid_fen=sum(payouts))
        return msg.ShareFixed(
            aid_fen=share.aid_fen,
            fee_fen=share.fee_fen,
            surplus_in_fen=share.surplus_in_fen,
            members=share.members,
            share_fen=share.share_fen,
            payouts_fen=tuple(payouts),
        )

    @activity.defn(name=msg.DEBIT)
    @pulsing
    def debit(self, request: msg.DebitRequest) -> msg.Debited:
        beat("debit")
        with refusals_are_final():
            result = debit(
                self._settlement(request.plan_id),
                request.sharing_date,
                aid_fen=request.aid_fen,
                now=request.now,
            )
        return _debited(result)

    @activity.defn(name=msg.RETRY)
    @pulsing
    def retry(self, request: msg.DebitRequest) -> msg.Debited:
        beat(f"retry {request.attempt}")
        with refusals_are_final():
            result = retry(
                self._settlement(request.plan_id),
                request.sharing_date,
                now=request.now,
                attempt=request.attempt,
            )
        return _debited(result)

    @activity.defn(name=msg.FINAL_REPORT)
    @pulsing
    def final_report(self, request: msg.ReportRequest) -> msg.PeriodReport:
        """Reconcile the period again from its ledgers, count the payouts, store the report."""
        beat("final report")
        with refusals_are_final():
            ctx = self._settlement(request.plan_id)
            check = reconcile_period(ctx, request.publicity_date)
            beat("final report: reconciled")
            with unit_of_work(self._engine) as session:
                periods = PeriodRepository(session)
                period = periods.by_id(request.period_id)
                paid = {
                    p.claim_id: p.amount_fen
                    for p in PayoutRepository(session).for_period(request.period_id)
                    if p.state == "paid"
                }
                missing = tuple(c for c in request.funded_claims if c not in paid)
                report = _report(
                    period,
                    cases=len(request.funded_claims),
                    payouts_made=len(paid),
                    payouts_fen=sum(paid.values()),
                    payouts_missing=missing,
                    balanced=check.balanced,
                )
                periods.add_to_report(
                    period,
                    {
                        "cases": report.cases,
                        "payouts_made": report.payouts_made,
                        "payouts_fen": report.payouts_fen,
                        "payouts_missing": list(missing),
                        "balanced": check.balanced,
                        "problems": check.problems,
                    },
                )
        return report

    @activity.defn(name=msg.RECORDED)
    @pulsing
    def recorded(self, request: msg.RecordedRequest) -> msg.Recorded:
        """What SQL says of the period: a period with a final report has run to its end."""
        with refusals_are_final(), reading(self._engine) as session:
            period = PeriodRepository(session).get(request.plan_id, request.publicity_date)
            if period is None:
                return msg.Recorded(state=None, report=None)
            stored = period.report or {}
            if "payouts_made" not in stored or "balanced" not in stored:
                return msg.Recorded(state=period.state, report=None)
            return msg.Recorded(
                state=period.state,
                report=_report(
                    period,
                    cases=int(stored.get("cases", 0)),
                    payouts_made=int(stored["payouts_made"]),
                    payouts_fen=int(stored.get("payouts_fen", 0)),
                    payouts_missing=tuple(stored.get("payouts_missing", ())),
                    balanced=bool(stored["balanced"]),
                ),
            )


def _report(
    period: PeriodRow,
    *,
    cases: int,
    payouts_made: int,
    payouts_fen: int,
    payouts_missing: tuple[str, ...],
    balanced: bool,
) -> msg.PeriodReport:
    """The period's report: its money from the period row, its payouts as given."""
    return msg.PeriodReport(
        period=period.workflow_id,
        members=period.members or 0,
        cases=cases,
        aid_fen=period.aid_fen or 0,
        fee_fen=period.fee_fen or 0,
        surplus_in_fen=period.surplus_in_fen or 0,
        share_fen=period.share_fen or 0,
        collected_fen=period.collected_fen or 0,
        unpaid_fen=period.unpaid_fen or 0,
        subsidy_fen=period.subsidy_fen or 0,
        surplus_out_fen=period.surplus_out_fen or 0,
        payouts_made=payouts_made,
        payouts_fen=payouts_fen,
        payouts_missing=payouts_missing,
        balanced=balanced,
    )


def _debited(result: Any) -> msg.Debited:
    return msg.Debited(
        attempt=result.attempt,
        paid_fen=result.paid_fen,
        unpaid_fen=result.unpaid_fen,
        subsidy_fen=result.subsidy_fen,
        removed=result.removed,
        period_closed=result.period_closed,
    )
