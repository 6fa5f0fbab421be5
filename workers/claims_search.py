"""Finding claims through Temporal visibility (the Web UI's view): a query over the claim
workflows' search attributes, built from checked values, never from text pasted raw."""

from __future__ import annotations

import re

from temporalio.client import Client, WorkflowExecution

from messages import claims as msg
from mutualaid.calendar import parse_date
from mutualaid.claim import ClaimState
from mutualaid.errors import InputError
from workflows.search_attributes import CLAIM_STATE, OVERDUE, PERIOD_ID, PLAN_ID

_PERIOD_KEY = re.compile(r"period-[A-Za-z0-9_-]+-[0-9]{4}-[0-9]{2}-[0-9]{2}")


def period_key(period: str, plan_id: str) -> str:
    """A period as `period-<plan>-<date>`, given so or as its publicity date."""
    if _PERIOD_KEY.fullmatch(period):
        return period
    return msg.period_key(plan_id, parse_date(period, field="period"))


def claims_query(
    *,
    state: str | None = None,
    plan_id: str | None = None,
    period: str | None = None,
    overdue: bool | None = None,
) -> str:
    """A visibility query over claim workflows. Values are checked, never pasted raw.

    >>> claims_query(state="InReview", overdue=True)
    "WorkflowType = 'Claim' AND ClaimState = 'InReview' AND Overdue = true"
    """
    clauses = [f"WorkflowType = '{msg.WORKFLOW_NAME}'"]
    if state is not None:
        if state not in {s.value for s in ClaimState}:
            raise InputError("state", state, "is not a claim state (" + ", ".join(ClaimState) + ")")
        clauses.append(f"{CLAIM_STATE.name} = '{state}'")
    if plan_id is not None:
        clauses.append(f"{PLAN_ID.name} = '{plan_id}'")
    if period is not None:
        if not _PERIOD_KEY.fullmatch(period):
            raise InputError("period", period, "must be period-<plan>-<YYYY-MM-DD>")
        clauses.append(f"{PERIOD_ID.name} = '{period}'")
    if overdue is not None:
        clauses.append(f"{OVERDUE.name} = {'true' if overdue else 'false'}")
    return " AND ".join(clauses)


async def find_claims(client: Client, query: str, *, limit: int) -> list[WorkflowExecution]:
    """The claim workflows the query matches, at most `limit` of them."""
    return [execution async for execution in client.list_workflows(query, limit=limit)]
