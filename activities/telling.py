"""Telling a period's claims where their period stands: `publicised`, `cleared` and `funded`,
sent to each claim workflow from an activity, a batch of claims at a time.

Signalled from the period workflow itself, every claim cost its history two events per
message, three messages a case: 40-50 thousand events at 3,142 cases, against Temporal's limit
of 51,200. From here the period's history grows by one activity per batch (`TELL_BATCH`
claims) whatever the number of cases.

A batch that fails part-way is retried whole, so a claim may hear a message twice; the claim's
handlers take each message once (`publicised` only while it waits for publicity, `cleared` and
`funded` once per period). A claim whose workflow is closed or missing cannot be told: it is
reported back, as the workflow's own signal reported it, and the period carries on.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from messages import claims as claim_msg
from messages import periods as msg

# Signals in flight at once from one batch: enough to hide the round trip, few enough that a
# period of 20,000 cases does not crowd out the claims' own work on the server.
_IN_FLIGHT = 32


class ClaimTelling:
    """The activity, on the worker's own Temporal client (`activity.client()`)."""

    @activity.defn(name=msg.TELL_CLAIMS)
    async def tell_claims(self, request: msg.TellRequest) -> msg.Told:
        """Signal every claim of the batch; return those that could not be reached."""
        return await _tell(request)


async def _tell(request: msg.TellRequest) -> msg.Told:
    client = activity.client()
    notices = notices_for(request)
    gate = asyncio.Semaphore(_IN_FLIGHT)
    told = 0

    async def tell(claim_id: str, notice: object) -> str | None:
        nonlocal told
        async with gate:
            handle = client.get_workflow_handle(claim_msg.workflow_id(claim_id))
            try:
                await handle.signal(request.signal, notice)
            except RPCError as err:
                if err.status is not RPCStatusCode.NOT_FOUND:
                    raise  # the server, not the claim: the batch is retried
                activity.logger.warning("claim %s not told %s: %s", claim_id, request.signal, err)
                return claim_id
            told += 1
            if told % 100 == 0:
                activity.heartbeat(f"{request.signal}: {told}/{len(request.claim_ids)}")
            return None

    outcomes = await asyncio.gather(*(tell(c, n) for c, n in notices))
    return msg.Told(unreachable=tuple(c for c in outcomes if c is not None))


def notices_for(request: msg.TellRequest) -> list[tuple[str, object]]:
    """Each claim of the batch with the message it is sent (pure: the period workflow's
    replays of periods begun before the fan-out build their signals with it too)."""
    if request.signal == claim_msg.FUNDED:
        if len(request.amounts_fen) != len(request.claim_ids):
            raise _malformed("funded: one amount per claim")
        return [
            (c, claim_msg.Funded(period_id=request.period_id, amount_fen=amount))
            for c, amount in zip(request.claim_ids, request.amounts_fen, strict=True)
        ]
    notice: object
    if request.signal == claim_msg.PUBLICISED:
        if request.publicity_date is None or request.objection_window_end is None:
            raise _malformed("publicised: the publicity date and window end are needed")
        notice = claim_msg.Publicised(
            period_id=request.period_id,
            publicity_date=request.publicity_date,
            objection_window_end=request.objection_window_end,
        )
    elif request.signal == claim_msg.CLEARED:
        notice = claim_msg.Cleared(period_id=request.period_id)
    else:
        raise _malformed(f"signal={request.signal!r}: not a period's message to a claim")
    return [(c, notice) for c in request.claim_ids]


def _malformed(problem: str) -> ApplicationError:
    # A bug in the sender, the same at every try: not retried.
    return ApplicationError(problem, type="MalformedTellRequest", non_retryable=True)
