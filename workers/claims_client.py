"""What the `claims` commands share: starting a claim, asking it its status (or reading its
SQL record when no worker answers), sending it a step (`infra.claim_steps`, which the
console uses too) and printing what it says, and checking the names and ids people type."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from infra.claim_steps import NoAnswerError, claim_handle, claim_query, claim_status, send_step
from infra.config import Settings, load_settings
from infra.db import open_database, reading
from infra.repositories import ClaimRepository
from infra.temporal import connect
from messages import claims as msg
from mutualaid.claim import ClaimState
from mutualaid.claim_roles import check_actor_name
from mutualaid.errors import InputError, NotYetError
from workers.output import emit
from workflows.search_attributes import CLAIM_STATE, MEMBER_ID, PLAN_ID

T = TypeVar("T")

ClaimArg = Annotated[str, typer.Argument(help="The claim id (see `claims list`).")]


def run_step(
    claim_id: str,
    action: str,
    send: Callable[[WorkflowHandle[Any, Any], msg.ClaimStatus], Awaitable[object]],
    *,
    as_json: bool,
) -> None:
    """Run one human step: find the claim, send the update, print what it says."""
    settings = load_settings()
    result = with_client(
        settings,
        lambda client: send_step(client, claim_id, action, send, task_queue=settings.task_queue),
    )
    if isinstance(result, msg.StepResult):
        result = {"claim": claim_id, "state": result.state.value, "event": result.event_seq}
    emit(plain(result), as_json=as_json, title=f"{action}: claim {claim_id}")


def run_update(
    claim_id: str,
    action: str,
    update: str,
    request_for: Callable[[msg.ClaimStatus], object],
    *,
    as_json: bool,
) -> None:
    """Run a human step that is one update of the claim, its request made from the claim's
    status (the applicant, the plan a reviewer's family is looked up in)."""

    async def send(handle: WorkflowHandle[Any, Any], status: msg.ClaimStatus) -> object:
        return await handle.execute_update(update, request_for(status), result_type=msg.StepResult)

    run_step(claim_id, action, send, as_json=as_json)


async def start_claim(client: Client, claim: msg.ClaimInput, *, task_queue: str) -> None:
    """Start a reported claim's workflow, under its id once: a second report is refused."""
    try:
        await client.start_workflow(
            msg.WORKFLOW_NAME,
            claim,
            id=msg.workflow_id(claim.claim_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(CLAIM_STATE, ClaimState.REPORTED.value),
                    SearchAttributePair(PLAN_ID, claim.plan_id),
                    SearchAttributePair(MEMBER_ID, str(claim.member_id)),
                ]
            ),
        )
    except WorkflowAlreadyStartedError:
        raise InputError(
            "claim", claim.claim_id, "is already reported (see `claims show`)"
        ) from None


async def claim_now(
    settings: Settings, claim_id: str
) -> tuple[msg.ClaimStatus, list[msg.TimelineEntry]] | str:
    """The claim's status and timeline from its workflow, or why they cannot be had:
    connection and worker trouble come back as a reason, so the SQL record can answer."""
    try:
        client = await connect(settings)
    except InputError as exc:
        return str(exc)
    handle = claim_handle(client, claim_id)
    try:
        status = await claim_status(handle, claim_id)
        timeline = await claim_query(
            handle, claim_id, msg.TIMELINE, result_type=list[msg.TimelineEntry]
        )
    except NoAnswerError as exc:
        return str(exc)
    return status, timeline


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRecordView:
    """A claim as its SQL record holds it: what `claims show` prints when no worker can
    answer. The record lags the workflow by at most the step being written."""

    status: dict[str, Any]
    timeline: list[dict[str, Any]]


def claim_record(settings: Settings, claim_id: str) -> ClaimRecordView | None:
    """The claim's SQL record and history, or None when SQL holds no such claim (a duplicate
    report lives in its workflow only)."""
    with database(settings) as engine, reading(engine) as session:
        claims = ClaimRepository(session)
        row = claims.get(claim_id)
        if row is None:
            return None
        status = {
            "claim_id": row.id,
            "state": row.state,
            "plan_id": row.plan_id,
            "rules_version": row.rules_version,
            "member_id": row.member_id,
            "benefit_fen": row.benefit_fen,
            "period_id": row.period_id,
            "reported_at": row.reported_at.isoformat(timespec="seconds"),
            "updated_at": row.updated_at.isoformat(timespec="seconds"),
        }
        timeline = [
            {
                "seq": event.seq,
                "at": event.at.isoformat(timespec="seconds"),
                "event": event.kind,
                "state": event.state,
                "actor": event.actor,
                "note": str(event.detail.get("reason", "")) if event.detail else "",
            }
            for event in claims.events(claim_id)
        ]
    return ClaimRecordView(status=status, timeline=timeline)


def recorded_claim(settings: Settings, claim_id: str, *, why: str) -> ClaimRecordView:
    """The claim's SQL record when its workflow cannot answer (`why`); a claim SQL does not
    hold either is that error, one line."""
    record = claim_record(settings, claim_id)
    if record is None:
        raise NotYetError("claim", claim_id, why.removeprefix(f"claim={claim_id!r}: "))
    return record


def expect_state(status: msg.ClaimStatus, state: ClaimState, claim_id: str) -> None:
    if status.state is not state:
        raise InputError("claim", claim_id, f"is {status.state.value}, not {state.value}")


def staff_name(name: str, field: str) -> str:
    return check_actor_name(name, field=field)


def member_id_of(member: int, field: str) -> int:
    if not 0 < member < 2**63:
        raise InputError(field, member, "must be a positive member id")
    return member


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    engine = open_database(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def with_client(settings: Settings, work: Callable[[Client], Awaitable[T]]) -> T:
    async def run() -> T:
        client = await connect(settings)
        return await work(client)

    return asyncio.run(run())


def plain(value: object) -> Any:
    """Dataclasses and enums as JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
