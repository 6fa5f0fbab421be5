"""What the `claims` commands share: finding a claim, asking it its status, sending it a
step and turning its refusal into one line, and checking the names and ids people type."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import Engine
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from infra.config import Settings, load_settings
from infra.temporal import connect
from mutualaid.claim import ClaimState, check_claim_id
from mutualaid.errors import InputError
from workers.output import emit
from workers.worker import open_database
from workflows import claim_messages as msg

T = TypeVar("T")

# How long a command waits for a worker to answer an update.
UPDATE_TIMEOUT_S = 60.0

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
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

    async def run(client: Client) -> object:
        handle = claim_handle(client, claim_id)
        status = await claim_status(handle, claim_id)
        try:
            return await asyncio.wait_for(send(handle, status), UPDATE_TIMEOUT_S)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            raise InputError("claim", claim_id, f"{action} refused: {reason}") from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise InputError(
                "claim",
                claim_id,
                f"no worker answered in {UPDATE_TIMEOUT_S:.0f}s; is `mutualaid worker` running "
                f"on task queue {settings.task_queue}?",
            ) from None

    result = with_client(settings, run)
    if isinstance(result, msg.StepResult):
        result = {"claim": claim_id, "state": result.state.value, "event": result.event_seq}
    emit(plain(result), as_json=as_json, title=f"{action}: claim {claim_id}")


def claim_handle(client: Client, claim_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(msg.workflow_id(check_claim_id(claim_id)))


async def claim_status(handle: WorkflowHandle[Any, Any], claim_id: str) -> msg.ClaimStatus:
    try:
        status: msg.ClaimStatus = await handle.query(msg.STATUS, result_type=msg.ClaimStatus)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise InputError("claim", claim_id, "no such claim") from None
        raise
    except WorkflowQueryFailedError as err:
        raise InputError("claim", claim_id, f"cannot be read: {err}") from None
    return status


def expect_state(status: msg.ClaimStatus, state: ClaimState, claim_id: str) -> None:
    if status.state is not state:
        raise InputError("claim", claim_id, f"is {status.state.value}, not {state.value}")


def staff_name(name: str, field: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 100 or not cleaned.isprintable():
        raise InputError(field, name, "must be 1 to 100 printable characters")
    return cleaned


def member_id_of(member: int, field: str) -> int:
    if not 0 < member < 2**63:
        raise InputError(field, member, "must be a positive member id")
    return member


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    engine = open_database(settings)
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
