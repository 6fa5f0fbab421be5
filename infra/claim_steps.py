"""Sending a claim its human steps and asking it questions, for every client (the command
line, the console): find the claim, ask its status, send the update, and turn each way it
can fail into one of the program's errors naming the claim.

Nothing here lets a Temporal or gRPC exception through: a claim that does not exist, a
worker that does not answer, a claim that has finished are each one error naming the claim.
A query waits `QUERY_TIMEOUT_S` for a worker, not the server's default minute: an operator
would rather hear "no worker" at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from infra.config import load_settings
from messages import claims as msg
from mutualaid.claim import TERMINAL
from mutualaid.claim_report import check_claim_id
from mutualaid.errors import InputError, NotYetError, RefusedError

T = TypeVar("T")

# How long a command waits for a worker to answer an update.
UPDATE_TIMEOUT_S = 60.0
# How long a command waits for a worker to answer a query (a claim's status, its timeline).
QUERY_TIMEOUT_S = 5.0
# The RPC codes that say "nobody answered in time", as opposed to "no such workflow".
_NO_ANSWER = frozenset(
    {RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.CANCELLED}
)
# Closed workflows refuse an update with one of these (the servers differ).
_CLOSED = frozenset({RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION})


class NoAnswerError(NotYetError):
    """No worker answered a query about the claim in time: none runs on the task queue, or
    it is busy. Asking again later may work; `claims show` reads the SQL record instead."""


async def send_step(
    client: Client,
    claim_id: str,
    action: str,
    send: Callable[[WorkflowHandle[Any, Any], msg.ClaimStatus], Awaitable[T]],
    *,
    task_queue: str,
) -> T:
    """Send one human step: find the claim, refuse it when finished, send the update and
    turn its refusal into `RefusedError` with the claim's own reason."""
    handle = claim_handle(client, claim_id)
    try:
        status = await claim_status(handle, claim_id)
    except NoAnswerError:
        # A finished claim is refused as finished, whether or not a worker runs.
        await refuse_if_closed(client, claim_id, action)
        raise
    if status.state in TERMINAL:
        raise RefusedError(
            "claim", claim_id, f"{action} refused: the claim is {status.state.value} (finished)"
        )
    try:
        return await asyncio.wait_for(send(handle, status), UPDATE_TIMEOUT_S)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise RefusedError("claim", claim_id, f"{action} refused: {reason}") from None
    except RPCError as err:
        if err.status in _CLOSED:
            # The claim finished between the status query and the update.
            raise RefusedError(
                "claim", claim_id, f"{action} refused: the claim has finished"
            ) from None
        raise NotYetError(
            "claim", claim_id, f"{action} not sent: Temporal answered {err.message!r}"
        ) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise NotYetError(
            "claim",
            claim_id,
            f"no worker answered in {UPDATE_TIMEOUT_S:.0f}s; is `mutualaid worker` running "
            f"on task queue {task_queue}?",
        ) from None


def claim_handle(client: Client, claim_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(msg.workflow_id(check_claim_id(claim_id)))


async def claim_status(handle: WorkflowHandle[Any, Any], claim_id: str) -> msg.ClaimStatus:
    status: msg.ClaimStatus = await claim_query(
        handle, claim_id, msg.STATUS, result_type=msg.ClaimStatus
    )
    return status


async def claim_query(
    handle: WorkflowHandle[Any, Any], claim_id: str, query: str, *, result_type: type[T]
) -> T:
    """Ask the claim's workflow a query, waiting QUERY_TIMEOUT_S for a worker at most."""
    try:
        answer: T = await handle.query(
            query, result_type=result_type, rpc_timeout=timedelta(seconds=QUERY_TIMEOUT_S)
        )
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise InputError("claim", claim_id, "no such claim") from None
        if err.status in _NO_ANSWER:
            raise NoAnswerError(
                "claim",
                claim_id,
                f"no worker answered in {QUERY_TIMEOUT_S:.0f}s; is `mutualaid worker` running "
                f"on task queue {load_settings().task_queue}?",
            ) from None
        raise NotYetError(
            "claim", claim_id, f"cannot be read: Temporal answered {err.message!r}"
        ) from None
    except WorkflowQueryFailedError as err:
        raise InputError("claim", claim_id, f"cannot be read: {err}") from None
    return answer


async def refuse_if_closed(client: Client, claim_id: str, action: str) -> None:
    """Refuse a step on a claim whose workflow has closed. Describing a workflow needs no
    worker, so this answers when the status query cannot. The raw service call reads the
    status alone: decoding the search attributes as well is not needed, and the test
    server's encoding of a datetime attribute trips the SDK's decoder."""
    try:
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=msg.workflow_id(claim_id)),
            ),
            timeout=timedelta(seconds=QUERY_TIMEOUT_S),
        )
    except RPCError:
        return  # the caller's own error (no worker) says enough
    status = WorkflowExecutionStatus(described.workflow_execution_info.status)
    if status is not WorkflowExecutionStatus.RUNNING:
        raise RefusedError(
            "claim",
            claim_id,
            f"{action} refused: the claim has finished (workflow {status.name.lower()})",
        )
