"""The people around the demo's claims, simulated: the applicants (claims drawn from an
incidence model), the platform's reviewers, the investigation firm's agents, the jury, and
the occasional objector. They act as registered staff and members through the claims' own
updates, driven by each claim's state, so a claim is taken up where it stands."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from infra.config import Settings
from infra.db import unit_of_work
from infra.repositories import JuryRepository
from messages import claims as claim_msg
from mutualaid.calendar import program_date
from mutualaid.claim import ClaimState
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.claim_review import Findings, ReviewOutcome
from mutualaid.claim_roles import Actor, Role
from mutualaid.clock import ProgramClock
from mutualaid.plan import Plan
from settlement.store import MemberStore
from workers import claims_actors as actors
from workers.demo_outages import patiently
from workers.demo_state import DemoClock
from workers.output import errors as console
from workflows.claim import ClaimWorkflow

REVIEWER = Actor(role=Role.REVIEWER, name="demo-reviewer")
INVESTIGATOR = Actor(role=Role.INVESTIGATOR, name="demo-firm")
HOSPITALS = (
    "Peking Union Medical College Hospital, oncology ward 3, bed 12",
    "Sun Yat-sen University Cancer Center, building 2, room 301",
    "West China Hospital of Sichuan University, thoracic surgery",
    "Fudan University Shanghai Cancer Center, ward 8",
    "Zhejiang Cancer Hospital, internal medicine 2",
)
# Cases a period brings per member: about 3,142 cases for 105 million members in Aug 2020.
INCIDENCE = Fraction(3142, 105_000_000)
_DONE_OR_WAITING = frozenset(
    {ClaimState.INELIGIBLE, ClaimState.CLOSED, ClaimState.WITHDRAWN, ClaimState.PAID}
)


def cases_per_period(members: int) -> int:
    """How many claims the demo reports for a period of that many members."""
    return max(4, min(40, round(members * INCIDENCE)))


async def open_claims(client: Client) -> list[WorkflowHandle[Any, Any]]:
    """The demo's claims still running, as Temporal's visibility lists them."""
    query = "WorkflowType = 'Claim' AND ExecutionStatus = 'Running'"

    async def running() -> list[WorkflowHandle[Any, Any]]:
        return [client.get_workflow_handle(e.id) async for e in client.list_workflows(query)]

    return await patiently(running, for_s=30)


class ReviewTeam:
    """The people around a claim, simulated: the applicant, the platform's reviewers, the
    investigation firm's agents, the jury, and the occasional objector."""

    def __init__(self, *, client: Client, engine: Engine, plan: Plan, members: int) -> None:
        self._client = client
        self._engine = engine
        self._plan = plan
        self._members = members
        self._random = random.Random(20260513)
        self._jurors: list[int] = []

    def qualify_jurors(self, store_root: str, today: date) -> None:
        """Adult members of over a month who passed the juror test: enough for a valid vote,
        with some to spare."""
        store = MemberStore.open(store_root, self._plan.id)
        head = store.head()
        assert head is not None
        manifest = store.manifest(head)
        adult_before = today.replace(year=today.year - self._plan.jury.juror_min_age)
        joined_before = today - timedelta(days=self._plan.jury.juror_min_tenure_days + 1)
        eligible: list[int] = []
        for shard in range(store.shards):
            rows = store.read_shard(
                manifest, shard, columns=["member_id", "birth_date", "join_date", "exit_date"]
            ).to_pylist()
            eligible += [
                r["member_id"]
                for r in rows
                if r["birth_date"] <= adult_before
                and r["join_date"] <= joined_before
                and r["exit_date"] is None
            ]
        count = min(len(eligible), self._plan.jury.min_valid_votes + 400)
        self._jurors = self._random.sample(sorted(eligible), count)
        with unit_of_work(self._engine) as session:
            jury = JuryRepository(session)
            for member in self._jurors:
                jury.qualify(
                    self._plan.id, member, passed_on=today - timedelta(days=1), at=datetime.now(UTC)
                )

    async def report(
        self, settings: Settings, clock: ProgramClock, demo_clock: DemoClock
    ) -> WorkflowHandle[Any, Any]:
        today = program_date(clock.program_now(datetime.now(UTC)))
        member = self._random.randint(1, self._members)
        claim_id = f"demo-{today:%Y%m%d}-{member}"
        claim = claim_msg.ClaimInput(
            claim_id=claim_id,
            plan_id=self._plan.id,
            member_id=member,
            condition="malignant tumour",
            diagnosis_date=today - timedelta(days=self._random.randint(1, 20)),
            hospital=self._random.choice(HOSPITALS),
            documents=(
                Document(kind=DocumentKind.DIAGNOSIS, reference=f"{claim_id}/diagnosis.pdf"),
                Document(kind=DocumentKind.MEDICAL_RECORD, reference=f"{claim_id}/records.pdf"),
                Document(kind=DocumentKind.IDENTITY, reference=f"{claim_id}/id.jpg"),
            ),
            seconds_per_day=str(demo_clock.seconds_per_day),
            clock_origin=demo_clock.real_origin,
            program_origin=demo_clock.program_origin,
        )
        try:
            handle: WorkflowHandle[Any, Any] = await patiently(
                lambda: self._client.start_workflow(
                    ClaimWorkflow.run,
                    claim,
                    id=claim_msg.workflow_id(claim_id),
                    task_queue=settings.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            )
            return handle
        except WorkflowAlreadyStartedError:
            return self._client.get_workflow_handle(claim_msg.workflow_id(claim_id))

    async def work(self, handle: WorkflowHandle[Any, Any], *, objection: bool) -> None:
        """Take a claim through review, investigation and decision; deny some (they appeal
        and the jury approves them) and object to one on its publicity list. Driven by the
        claim's state, so a claim is taken up where it stands (after a kill of the demo) and
        a step whose answer an outage swallowed is not sent twice."""
        roll = self._random.random()
        consistent = roll > 0.15
        voted = objected = False
        last: tuple[ClaimState, bool] | None = None
        idle_since = time.monotonic()
        try:
            while True:
                status = await self._status_patiently(handle)
                state = status.state
                if state in _DONE_OR_WAITING or state is ClaimState.REINVESTIGATING:
                    return
                if state is ClaimState.AWAITING_FUNDS or (
                    state in (ClaimState.AWAITING_PUBLICITY, ClaimState.PUBLICISED)
                    and (not objection or objected)
                ):
                    return  # approved: the periods take it from here
                moment = (state, status.investigation_reference is not None)
                if moment != last:
                    last, idle_since = moment, time.monotonic()
                elif time.monotonic() - idle_since > 600:
                    raise TimeoutError(f"{handle.id} stayed {state} for 10 minutes")
                if state is ClaimState.IN_REVIEW:
                    await self._step(
                        handle,
                        claim_msg.REVIEW,
                        claim_msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS),
                    )
                elif state is ClaimState.INVESTIGATING and status.investigation_reference:
                    findings = Findings(
                        diagnosis_confirmed=True,
                        declaration_consistent=consistent,
                        summary="hospital records checked",
                    )
                    await self._step(
                        handle,
                        claim_msg.RECORD_FINDINGS,
                        claim_msg.RecordFindings(actor=INVESTIGATOR, findings=findings),
                    )
                elif state is ClaimState.AWAITING_DECISION:
                    await self._step(
                        handle,
                        claim_msg.DECIDE,
                        claim_msg.Decide(
                            actor=REVIEWER,
                            approve=consistent,
                            reason="" if consistent else "history not declared",
                        ),
                    )
                elif state is ClaimState.DENIED:
                    await self._step(
                        handle,
                        claim_msg.APPEAL,
                        claim_msg.Appeal(
                            actor=actors.applicant(status),
                            reason="the condition was diagnosed after joining",
                        ),
                    )
                elif state is ClaimState.JURY_VOTING and not voted:
                    if status.jury_votes_counted == 0:
                        votes = tuple(
                            claim_msg.JuryVote(juror_id=j, approve=self._random.random() < 0.7)
                            for j in self._jurors
                        )
                        await patiently(
                            lambda v=votes: handle.execute_update(  # type: ignore[misc]
                                claim_msg.VOTE,
                                claim_msg.JuryVotes(votes=v),
                                result_type=claim_msg.VoteReceipt,
                            )
                        )
                    voted = True
                elif state is ClaimState.PUBLICISED and objection and not objected:
                    objector = self._random.choice(self._jurors)
                    await self._step(
                        handle,
                        claim_msg.OBJECT,
                        claim_msg.Objection(
                            actor=actors.member(objector),
                            reason="the patient was treated for this before joining",
                        ),
                    )
                    objected = True
                else:
                    await asyncio.sleep(0.25)  # the claim is busy, or waits for a period
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a refused step ends this claim's script, not the demo
            cause = getattr(exc, "cause", None)
            console.print(f"  {handle.id}: the team stopped: {cause or exc}")

    async def _status(self, handle: WorkflowHandle[Any, Any]) -> claim_msg.ClaimStatus:
        status: claim_msg.ClaimStatus = await handle.query(
            claim_msg.STATUS, result_type=claim_msg.ClaimStatus
        )
        return status

    async def _status_patiently(self, handle: WorkflowHandle[Any, Any]) -> claim_msg.ClaimStatus:
        """The claim's status, asked again through an outage or before it has started."""
        return await patiently(
            lambda: self._status(handle),
            retry_on=(RPCError, WorkflowQueryFailedError),
            every_s=0.5,
        )

    async def _step(self, handle: WorkflowHandle[Any, Any], name: str, request: object) -> None:
        """Send a step; a step refused because the claim is still busy (an activity in
        flight) is tried again a little later, as a person at a screen would; a step whose
        state has moved on meanwhile (its answer lost in an outage) is left: the caller
        reads the state again."""
        before = (await self._status_patiently(handle)).state
        for attempt in range(20):
            try:
                await patiently(
                    lambda: handle.execute_update(name, request, result_type=claim_msg.StepResult)
                )
                return
            except WorkflowUpdateFailedError as exc:
                if (await self._status_patiently(handle)).state is not before:
                    return
                if attempt == 19 or "still being" not in str(exc.cause):
                    raise
                await asyncio.sleep(0.5)
