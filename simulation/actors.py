"""The people around a claim, simulated: the applicant, the platform's reviewers, the
investigation firm's agents, the jury, the occasional objector and, where no period runs, a
stand-in for the period's signals.

They act as registered staff and members through the claim's own updates, each after the
delay the scenario draws for that step (program days on the deployment's clock), and they are
driven by the claim's state, so a claim is taken up where it stands (after a kill of the
demo) and a step whose answer an outage swallowed is not sent twice. Which road a claim takes
(approved, denied, appealed, objected, incomplete, withdrawn, ineligible) is drawn from the
scenario's mix when it is reported.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from messages import claims as claim_msg
from mutualaid.calendar import next_publicity_day, program_date, start_of_day
from mutualaid.claim import TERMINAL, ClaimState
from mutualaid.claim_materials import DocumentKind
from mutualaid.claim_refusals import ActionRefusal
from mutualaid.claim_review import Findings, ReviewOutcome
from mutualaid.claim_roles import Actor, Role
from mutualaid.clock import ProgramClock
from mutualaid.plan import Plan
from simulation.applicants import Application, documents, resent
from simulation.outages import patiently
from simulation.periods import StandinPeriods
from simulation.scenario import ClaimPath, Delay, Scenario

REVIEWER = Actor(role=Role.REVIEWER, name="demo-reviewer")
INVESTIGATOR = Actor(role=Role.INVESTIGATOR, name="demo-firm")
# Approved claims whose findings show a history the member did not declare.
_UNDECLARED = frozenset({ClaimPath.DENIED, ClaimPath.APPEALED})
# A claim that stays in one state this long (real seconds) is reported stuck.
STALL_S = 600.0


def refused_as(error: WorkflowUpdateFailedError, code: ActionRefusal) -> bool:
    """Whether the claim's validator refused the update with this code (a window the person
    missed), rather than failing it some other way."""
    cause = error.cause
    return isinstance(cause, ApplicationError) and cause.type == code


def applicant(member_id: int) -> Actor:
    """The member whose claim it is."""
    return Actor(
        role=Role.APPLICANT, name=f"member:{member_id}", member_id=member_id, family_id=None
    )


def member(member_id: int) -> Actor:
    """A member acting for themselves (an objector)."""
    return Actor(role=Role.MEMBER, name=f"member:{member_id}", member_id=member_id)


@dataclass(slots=True)
class ClaimTrace:
    """What one claim's people did and how long the program took to answer: each step's
    round trip in real seconds, by step name."""

    path: ClaimPath
    steps: list[tuple[str, float]] = field(default_factory=list)
    states: list[tuple[ClaimState, float]] = field(default_factory=list)  # first seen (monotonic)
    # Windows a person missed: the program refused the step as too late (under a load that
    # slows the people's own round trips, a short window on a compressed clock can close
    # before they act). The claim then ends as the program ends a missed window.
    missed: list[str] = field(default_factory=list)

    def seen(self, state: ClaimState) -> None:
        if not self.states or self.states[-1][0] is not state:
            self.states.append((state, time.monotonic()))


class ReviewTeam:
    """The people around the claims of one run. `periods` stands in for the period
    workflow (publicised, cleared, funded) where none runs; without it a claim's script ends
    once it is approved (the periods take it from there) or re-investigated."""

    def __init__(
        self,
        *,
        client: Client,
        plan: Plan,
        clock: ProgramClock,
        task_queue: str,
        scenario: Scenario,
        jurors: list[int],
        periods: StandinPeriods | None = None,
        poll_s: float = 0.25,
        stall_s: float = STALL_S,
    ) -> None:
        self._client = client
        self._plan = plan
        self._clock = clock
        self._task_queue = task_queue
        self._scenario = scenario
        self._jurors = jurors
        self._periods = periods
        self._poll_s = poll_s
        self._stall_s = stall_s

    def today(self) -> date:
        return program_date(self._clock.program_now(datetime.now(UTC)))

    async def report(
        self, application: Application, *, claim_id: str, workflow_id: str
    ) -> WorkflowHandle[Any, Any]:
        """The applicant reports the claim: its workflow starts (once: a claim already
        started under the id is taken up where it stands)."""
        clock = self._clock
        claim = claim_msg.ClaimInput(
            claim_id=claim_id,
            plan_id=self._plan.id,
            member_id=application.member_id,
            condition=application.condition,
            diagnosis_date=application.diagnosis_date,
            hospital=application.hospital,
            documents=documents(claim_id),
            seconds_per_day=str(clock.seconds_per_day),
            clock_origin=clock.origin_real,
            program_origin=clock.origin_program,
        )
        try:
            handle: WorkflowHandle[Any, Any] = await patiently(
                lambda: self._client.start_workflow(
                    claim_msg.WORKFLOW_NAME,
                    claim,
                    id=workflow_id,
                    task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            )
            return handle
        except WorkflowAlreadyStartedError:
            return self._client.get_workflow_handle(workflow_id)

    async def work(
        self,
        handle: WorkflowHandle[Any, Any],
        *,
        path: ClaimPath,
        rng: random.Random,
        trace: ClaimTrace | None = None,
    ) -> ClaimState:
        """Take the claim down its path until it ends (or, with no period stand-in, until
        the periods take it); returns the state it was left in."""
        return await _Script(self, handle, path, rng, trace or ClaimTrace(path=path)).run()

    async def work_quietly(
        self,
        handle: WorkflowHandle[Any, Any],
        *,
        path: ClaimPath,
        rng: random.Random,
        say: Callable[[str], None],
    ) -> None:
        """`work`, where a refused step ends this claim's script, not the caller's run."""
        try:
            await self.work(handle, path=path, rng=rng)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            cause = getattr(exc, "cause", None)
            say(f"  {handle.id}: the team stopped: {cause or exc}")


class _Script:
    """One claim's people, step by step."""

    def __init__(
        self,
        team: ReviewTeam,
        handle: WorkflowHandle[Any, Any],
        path: ClaimPath,
        rng: random.Random,
        trace: ClaimTrace,
    ) -> None:
        self.team = team
        self.handle = handle
        self.path = path
        self.rng = rng
        self.trace = trace
        self.done: set[str] = set()
        self.period_day: date | None = None  # the publicity day of its latest period

    async def run(self) -> ClaimState:
        team = self.team
        last: tuple[ClaimState, bool] | None = None
        idle_since = time.monotonic()
        while True:
            status = await self._status()
            state = status.state
            self.trace.seen(state)
            if state in TERMINAL:
                return state
            if team._periods is None and self._periods_take_it(state):
                return state
            moment = (state, status.investigation_reference is not None)
            if moment != last:
                last, idle_since = moment, time.monotonic()
            elif time.monotonic() - idle_since > team._stall_s:
                raise TimeoutError(f"{self.handle.id} stayed {state} for {team._stall_s:.0f} s")
            await self._act(status)

    def _periods_take_it(self, state: ClaimState) -> bool:
        if state in (ClaimState.AWAITING_FUNDS, ClaimState.REINVESTIGATING):
            return True
        approved = state in (ClaimState.AWAITING_PUBLICITY, ClaimState.PUBLICISED)
        return approved and (self.path is not ClaimPath.OBJECTED or "objected" in self.done)

    async def _act(self, status: claim_msg.ClaimStatus) -> None:
        """The step the claim's state calls for, after its delay; or a short wait."""
        state = status.state
        delays = self.team._scenario.delays
        if state is ClaimState.IN_REVIEW:
            if self.path is ClaimPath.INCOMPLETE and "asked" not in self.done:
                await self._step(
                    "review",
                    delays.review,
                    claim_msg.REVIEW,
                    claim_msg.Review(
                        actor=REVIEWER,
                        outcome=ReviewOutcome.INCOMPLETE,
                        resubmit=(DocumentKind.MEDICAL_RECORD,),
                        reason="the medical record is illegible",
                    ),
                )
                self.done.add("asked")
            else:
                await self._step(
                    "review",
                    delays.review,
                    claim_msg.REVIEW,
                    claim_msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS),
                )
        elif state is ClaimState.REPORTED and "asked" in self.done:
            await self._step(
                "resubmission",
                delays.resubmission,
                claim_msg.SUBMIT_MATERIALS,
                claim_msg.SubmitMaterials(
                    actor=applicant(status.member_id),
                    documents=(resent(status.claim_id, DocumentKind.MEDICAL_RECORD),),
                ),
            )
        elif (
            state in (ClaimState.INVESTIGATING, ClaimState.REINVESTIGATING)
            and status.investigation_reference
        ):
            if self.path is ClaimPath.WITHDRAWN:
                await self._step(
                    "withdrawal",
                    delays.withdrawal,
                    claim_msg.WITHDRAW,
                    claim_msg.Withdraw(
                        actor=applicant(status.member_id), reason="treated abroad instead"
                    ),
                )
            else:
                findings = Findings(
                    diagnosis_confirmed=True,
                    declaration_consistent=self.path not in _UNDECLARED,
                    summary="hospital records checked",
                )
                await self._step(
                    "investigation",
                    delays.investigation,
                    claim_msg.RECORD_FINDINGS,
                    claim_msg.RecordFindings(actor=INVESTIGATOR, findings=findings),
                )
        elif state is ClaimState.AWAITING_DECISION:
            # The findings decide: a claim already past the jury is approved this time.
            approve = self.path not in _UNDECLARED or "appealed" in self.done
            await self._step(
                "decision",
                delays.decision,
                claim_msg.DECIDE,
                claim_msg.Decide(
                    actor=REVIEWER,
                    approve=approve,
                    reason="" if approve else "history not declared",
                ),
            )
        elif state is ClaimState.DENIED and self.path is ClaimPath.APPEALED:
            await self._step(
                "appeal",
                delays.appeal,
                claim_msg.APPEAL,
                claim_msg.Appeal(
                    actor=applicant(status.member_id),
                    reason="the condition was diagnosed after joining",
                ),
            )
            self.done.add("appealed")
        elif state is ClaimState.JURY_VOTING and "voted" not in self.done:
            if status.jury_votes_counted == 0:
                await self._vote(delays.jury_votes)
            self.done.add("voted")
        elif (
            state is ClaimState.PUBLICISED
            and self.path is ClaimPath.OBJECTED
            and "objected" not in self.done
        ):
            await self._object(status)
        elif self.team._periods is not None and await self._period_signal(status):
            pass
        else:
            await self._wait(status)

    async def _step(self, name: str, delay: Delay, update: str, request: object) -> None:
        """Send a step after its delay; a step refused because the claim is still busy (an
        activity in flight) is tried again a little later, as a person at a screen would; a
        step whose state has moved on meanwhile (its answer lost in an outage) is left: the
        caller reads the state again."""
        await self._sleep_days(delay.draw(self.rng))
        before = (await self._status()).state
        for attempt in range(20):
            started = time.monotonic()
            try:
                await patiently(
                    lambda: self.handle.execute_update(
                        update, request, result_type=claim_msg.StepResult
                    )
                )
                self.trace.steps.append((name, time.monotonic() - started))
                return
            except WorkflowUpdateFailedError as exc:
                if (await self._status()).state is not before:
                    return
                if attempt == 19 or "still being" not in str(exc.cause):
                    raise
                await asyncio.sleep(0.5)

    async def _vote(self, delay: Delay) -> None:
        # The votes come in early in the vote, whatever the scenario's tail: the people's
        # own round trips under load eat into the rest of the window.
        voting = float(self.team._plan.jury.voting_days)
        await self._sleep_days(min(delay.draw(self.rng), voting / 6))
        # A minority of the jurors vote against, so the appeal carries whatever the jury's
        # size (each juror approving at random would let a small jury deny one appeal in six).
        jurors = self.team._jurors
        against = set(self.rng.sample(jurors, self.rng.randint(0, (len(jurors) - 1) // 2)))
        votes = tuple(claim_msg.JuryVote(juror_id=j, approve=j not in against) for j in jurors)
        started = time.monotonic()
        try:
            await patiently(
                lambda: self.handle.execute_update(
                    claim_msg.VOTE,
                    claim_msg.JuryVotes(votes=votes),
                    result_type=claim_msg.VoteReceipt,
                )
            )
        except WorkflowUpdateFailedError as exc:
            if not refused_as(exc, ActionRefusal.VOTING_CLOSED):
                raise
            self.trace.missed.append("jury_votes")
            return
        self.trace.steps.append(("jury_votes", time.monotonic() - started))

    async def _object(self, status: claim_msg.ClaimStatus) -> None:
        """A member objects inside the window: the delay is kept inside it."""
        window = float(self.team._plan.sharing.objection_window_days)
        days = min(self.team._scenario.delays.objection.draw(self.rng), window / 3)
        objector = self.rng.choice([j for j in self.team._jurors if j != status.member_id])
        self.done.add("objected")
        try:
            await self._step(
                "objection",
                Delay(kind="fixed", days=days),
                claim_msg.OBJECT,
                claim_msg.Objection(
                    actor=member(objector),
                    reason="the patient was treated for this before joining",
                ),
            )
        except WorkflowUpdateFailedError as exc:
            if not refused_as(exc, ActionRefusal.OUTSIDE_PUBLICITY_WINDOW):
                raise
            self.trace.missed.append("objection")

    async def _period_signal(self, status: claim_msg.ClaimStatus) -> bool:
        """The period's side, by its stand-in, each signal on its program day. Returns
        whether the state called for one."""
        periods = self.team._periods
        assert periods is not None
        state = status.state
        if state is ClaimState.AWAITING_PUBLICITY:
            # The next publicity day; after an objection, a later period than the one left.
            after = status.program_now
            if self.period_day is not None:
                after = max(after, start_of_day(self.period_day + timedelta(days=1)))
            day = next_publicity_day(after)
            await self._sleep_until(start_of_day(day))
            await self._signal("publicised", claim_msg.PUBLICISED, periods.publicised(day))
            self.period_day = day
            return True
        if state is ClaimState.PUBLICISED and status.period_id is not None:
            key = f"cleared-{status.period_id}"
            if key in self.done or status.publicity_date is None:
                return False
            await self._sleep_until(periods.window_end(status.publicity_date))
            await self._signal(
                "cleared", claim_msg.CLEARED, claim_msg.Cleared(period_id=status.period_id)
            )
            self.done.add(key)
            return True
        if state is ClaimState.AWAITING_FUNDS and status.period_id is not None:
            key = f"funded-{status.period_id}"
            if key in self.done or status.publicity_date is None:
                return False
            await self._sleep_until(periods.sharing_moment(status.publicity_date))
            await self._sleep_days(self.team._scenario.delays.payment.draw(self.rng))
            await self._signal(
                "funded", claim_msg.FUNDED, claim_msg.Funded(period_id=status.period_id)
            )
            self.done.add(key)
            return True
        return False

    async def _signal(self, name: str, signal: str, payload: object) -> None:
        started = time.monotonic()
        await patiently(lambda: self.handle.signal(signal, payload))
        self.trace.steps.append((name, time.monotonic() - started))

    async def _wait(self, status: claim_msg.ClaimStatus) -> None:
        """The claim is busy, or waits on a deadline of its own: look again shortly, or when
        its next deadline falls due if that is sooner."""
        wait = self.team._poll_s
        deadline = status.next_deadline
        if deadline is not None:
            until = (deadline.due_real - datetime.now(UTC)).total_seconds()
            wait = min(wait, max(until, 0.02))
        await asyncio.sleep(wait)

    async def _sleep_days(self, days: float) -> None:
        if days > 0:
            await asyncio.sleep(days * float(self.team._clock.seconds_per_day))

    async def _sleep_until(self, program_moment: datetime) -> None:
        left = (self.team._clock.real_at(program_moment) - datetime.now(UTC)).total_seconds()
        if left > 0:
            await asyncio.sleep(left)

    async def _status(self) -> claim_msg.ClaimStatus:
        """The claim's status, asked again through an outage or before it has started."""

        async def ask() -> claim_msg.ClaimStatus:
            status: claim_msg.ClaimStatus = await self.handle.query(
                claim_msg.STATUS, result_type=claim_msg.ClaimStatus
            )
            return status

        return await patiently(ask, retry_on=(RPCError, WorkflowQueryFailedError), every_s=0.5)
