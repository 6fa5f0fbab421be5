"""Helpers for claim workflow tests: a world with a database, members, a worker on its own
task queue, and a stand-in for the period workflow's signals."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.claims import ClaimActivities
from activities.investigation import InvestigationActivities, SimulatedFirm
from activities.payment import PaymentRail
from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import builtin_plan_sources
from infra.repositories import (
    ActorRepository,
    JuryRepository,
    MemberChangeRepository,
    PeriodRepository,
    PlanRepository,
)
from messages import claims as msg
from mutualaid.calendar import next_publicity_day, program_date, start_of_day
from mutualaid.claim import ClaimState
from mutualaid.claim_deadlines import objection_window_end
from mutualaid.claim_materials import Document, DocumentKind
from mutualaid.claim_review import Findings, ReviewOutcome
from mutualaid.claim_roles import Actor, Role
from mutualaid.membership import ChangeKind, MemberChange
from mutualaid.plan import Plan
from tests.helpers import eventually
from workflows.claim import ClaimWorkflow
from workflows.search_attributes import INDEXED_TYPES

PLANS: dict[str, Plan] = {source.plan.id: source.plan for source in builtin_plan_sources()}
CHRONIC = PLANS["chronic"]
ALL_DOCUMENTS = (
    Document(kind=DocumentKind.DIAGNOSIS, reference="diagnosis.pdf"),
    Document(kind=DocumentKind.MEDICAL_RECORD, reference="records.pdf"),
    Document(kind=DocumentKind.IDENTITY, reference="id-card.jpg"),
)
REVIEWER = Actor(role=Role.REVIEWER, name="reviewer-li")
INVESTIGATOR = Actor(role=Role.INVESTIGATOR, name="firm-agent-wang")
# Every staff login the tests act as, registered in each test database as an operator
# registers staff (`mutualaid actors add`): a staff step by anyone else is refused.
STAFF = (
    REVIEWER,
    INVESTIGATOR,
    Actor(role=Role.REVIEWER, name="li"),
    Actor(role=Role.INVESTIGATOR, name="wang"),
    *(Actor(role=Role.REVIEWER, name=f"staff-{n}") for n in (1, 2, 3)),
)
CONFIRMED = Findings(diagnosis_confirmed=True, declaration_consistent=True, summary="records match")
_ids = itertools.count(1)


def new_member_id() -> int:
    """A member id no other test in the session uses (modules share a database)."""
    return 10_000_000 + next(_ids) * 10 + uuid.uuid4().int % 10


def applicant(member_id: int) -> Actor:
    return Actor(role=Role.APPLICANT, name=f"member:{member_id}", member_id=member_id)


def member_actor(member_id: int) -> Actor:
    return Actor(role=Role.MEMBER, name=f"member:{member_id}", member_id=member_id)


async def register_search_attributes(client: Client) -> None:
    """The time-skipping test server refuses a workflow's upsert of an unregistered custom
    attribute (the workflow task then fails and is retried forever) and does not implement
    ListSearchAttributes, but it does implement AddSearchAttributes: add each attribute,
    taking "already exists" as done."""
    for name, kind in INDEXED_TYPES.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=client.namespace,
                    search_attributes={name: IndexedValueType.ValueType(kind)},
                )
            )
        except RPCError as err:
            if "already exists" not in err.message:
                raise


def migrated_sqlite(path: str) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with unit_of_work(engine) as session:
        plans = PlanRepository(session)
        for source in builtin_plan_sources():
            plans.record(source, at=datetime.now(UTC))
        ActorRepository(session).ensure_all(STAFF, at=datetime.now(UTC))
    return engine


@dataclass(kw_only=True)
class World:
    env: WorkflowEnvironment
    engine: Engine
    store_root: str
    task_queue: str = field(default_factory=lambda: f"claims-{uuid.uuid4()}")
    firm: SimulatedFirm = field(default_factory=SimulatedFirm)

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def today(self) -> date:
        return program_date(await self.now())

    # ---- members ------------------------------------------------------------------

    def join(
        self,
        *,
        birth: date,
        joined: date,
        payer: int | None = None,
        plan_id: str = "chronic",
        member_id: int | None = None,
    ) -> int:
        member = member_id or new_member_id()
        with unit_of_work(self.engine) as session:
            MemberChangeRepository(session).queue(
                MemberChange(
                    plan_id=plan_id,
                    member_id=member,
                    kind=ChangeKind.JOIN,
                    effective_on=joined,
                    birth_date=birth,
                    chronic_groups=(1,),
                    payer_id=payer,
                ),
                change_key=f"test-join-{plan_id}-{member}",
                at=datetime.now(UTC),
            )
        return member

    async def member(self, *, age: int = 35, member_days: int = 400) -> int:
        today = await self.today()
        return self.join(
            birth=today.replace(year=today.year - age) - timedelta(days=30),
            joined=today - timedelta(days=member_days),
        )

    def qualify(self, member_ids: Iterable[int], *, passed_on: date) -> None:
        with unit_of_work(self.engine) as session:
            jury = JuryRepository(session)
            for member in member_ids:
                jury.qualify("chronic", member, passed_on=passed_on, at=datetime.now(UTC))

    # ---- the worker and claims ----------------------------------------------------

    def activities(
        self, *, rail: PaymentRail | None = None, pay_out: Callable[..., Any] | None = None
    ) -> list[Callable[..., Any]]:
        claims = ClaimActivities(engine=self.engine, store_root=self.store_root, plans=PLANS)
        payment = pay_out or (rail or PaymentRail(engine=self.engine)).pay_out
        return [*claims.all, InvestigationActivities(self.firm).commission, payment]

    @asynccontextmanager
    async def worker(
        self, activities: Sequence[Callable[..., Any]] | None = None
    ) -> AsyncIterator[Worker]:
        with ThreadPoolExecutor(max_workers=4) as executor:
            worker = Worker(
                self.client,
                task_queue=self.task_queue,
                workflows=[ClaimWorkflow],
                activities=list(activities or self.activities()),
                activity_executor=executor,
                workflow_failure_exception_types=[Exception],
            )
            async with worker:
                yield worker

    async def report(
        self,
        member_id: int,
        *,
        diagnosed: date | None = None,
        documents: Sequence[Document] = ALL_DOCUMENTS,
        condition: str = "malignant tumour",
        hospital: str = "Peking Union Medical College Hospital",
        plan_id: str = "chronic",
        claim_id: str | None = None,
        wait: bool = True,
    ) -> WorkflowHandle[Any, Any]:
        """Start a claim and (by default) wait until its intake is done."""
        day = diagnosed or (await self.today()) - timedelta(days=10)
        cid = claim_id or f"t-{uuid.uuid4().hex[:16]}"
        handle = await self.client.start_workflow(
            ClaimWorkflow.run,
            msg.ClaimInput(
                claim_id=cid,
                plan_id=plan_id,
                member_id=member_id,
                condition=condition,
                diagnosis_date=day,
                hospital=hospital,
                documents=tuple(documents),
            ),
            id=msg.workflow_id(cid),
            task_queue=self.task_queue,
            execution_timeout=timedelta(days=400),
        )
        if wait:
            await wait_until(handle, lambda s: s.eligible is not None)
        return handle

    # ---- the period stand-in --------------------------------------------------------

    async def publicise(self, handle: WorkflowHandle[Any, Any]) -> int:
        """What the period workflow does on a publicity day: wait for 00:00, open the
        period, tell the claim (with the objection window). Returns the period id."""
        status = await wait_until(handle, lambda s: s.state is ClaimState.AWAITING_PUBLICITY)
        day = next_publicity_day(status.program_now)
        await self.sleep_until(start_of_day(day) + timedelta(hours=1))
        with unit_of_work(self.engine) as session:
            period, _ = PeriodRepository(session).open(
                "chronic", day, rules_version=CHRONIC.rules_version, at=datetime.now(UTC)
            )
            period_id = period.id
        await handle.signal(
            msg.PUBLICISED,
            msg.Publicised(
                period_id=period_id,
                publicity_date=day,
                objection_window_end=objection_window_end(
                    day, CHRONIC.sharing.objection_window_days
                ),
            ),
        )
        await wait_until(handle, lambda s: s.state is ClaimState.PUBLICISED)
        return period_id

    async def clear_and_fund(self, handle: WorkflowHandle[Any, Any], period_id: int) -> None:
        await handle.signal(msg.CLEARED, msg.Cleared(period_id=period_id))
        await self.env.sleep(timedelta(days=CHRONIC.sharing.objection_window_days))
        await wait_until(handle, lambda s: s.state is ClaimState.AWAITING_FUNDS)
        await handle.signal(msg.FUNDED, msg.Funded(period_id=period_id))

    async def sleep_until(self, moment: datetime) -> None:
        now = await self.now()
        if moment > now:
            await self.env.sleep(moment - now)


async def status_of(handle: WorkflowHandle[Any, Any]) -> msg.ClaimStatus:
    status: msg.ClaimStatus = await handle.query(msg.STATUS, result_type=msg.ClaimStatus)
    return status


async def timeline_of(handle: WorkflowHandle[Any, Any]) -> list[msg.TimelineEntry]:
    entries: list[msg.TimelineEntry] = await handle.query(
        msg.TIMELINE, result_type=list[msg.TimelineEntry]
    )
    return entries


CLOSING_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


async def closed_result(handle: WorkflowHandle[Any, Any], *, timeout: float = 20.0) -> Any:
    """The result of a workflow once it has closed, polled in real time. Awaiting `result()`
    of a running workflow lets the time-skipping server skip time, which runs every other
    open claim's timers meanwhile; a test with two claims open waits for one's close this way
    instead (a closed workflow's result returns at once)."""

    async def closed() -> bool:
        # From the history, not `describe()`: the test server's search attributes do not
        # decode in the SDK's describe.
        last = (await handle.fetch_history()).events[-1].event_type
        assert last in CLOSING_EVENTS, f"{handle.id} still running (last event {last})"
        return True

    await eventually(closed, timeout=timeout, what=f"{handle.id} to close")
    return await handle.result()


async def wait_until(
    handle: WorkflowHandle[Any, Any],
    condition: Callable[[msg.ClaimStatus], bool],
    *,
    timeout: float = 15.0,
) -> msg.ClaimStatus:
    """Poll the status query (real time; queries do not skip time) until the condition."""

    async def reached() -> msg.ClaimStatus:
        status = await status_of(handle)
        assert condition(status), f"last status {status}"
        return status

    return await eventually(reached, timeout=timeout, what=f"{handle.id} to reach the condition")


async def wait_for_event(
    handle: WorkflowHandle[Any, Any], kind: str, *, timeout: float = 15.0
) -> list[msg.TimelineEntry]:
    """Poll the timeline until an event of this kind is in it; returns the timeline."""

    async def recorded() -> list[msg.TimelineEntry]:
        entries = await timeline_of(handle)
        assert any(e.kind == kind for e in entries), f"timeline {[e.kind for e in entries]}"
        return entries

    return await eventually(recorded, timeout=timeout, what=f"a {kind} event of {handle.id}")


async def step(handle: WorkflowHandle[Any, Any], name: str, request: object) -> msg.StepResult:
    result: msg.StepResult = await handle.execute_update(name, request, result_type=msg.StepResult)
    return result


async def to_decision(handle: WorkflowHandle[Any, Any]) -> None:
    """Review passed, findings recorded: the claim waits for a decision."""
    await step(handle, msg.REVIEW, msg.Review(actor=REVIEWER, outcome=ReviewOutcome.PASS))
    # The firm takes the case first (so timelines read the same on every run).
    await wait_until(handle, lambda s: s.investigation_reference is not None)
    await step(
        handle, msg.RECORD_FINDINGS, msg.RecordFindings(actor=INVESTIGATOR, findings=CONFIRMED)
    )


async def to_approved(handle: WorkflowHandle[Any, Any]) -> None:
    await to_decision(handle)
    await step(handle, msg.DECIDE, msg.Decide(actor=REVIEWER, approve=True))


async def to_denied(handle: WorkflowHandle[Any, Any]) -> None:
    await to_decision(handle)
    await step(
        handle, msg.DECIDE, msg.Decide(actor=REVIEWER, approve=False, reason="undeclared history")
    )
