"""What the demo prints: a period's progress as one line, each period's report as a row, and
how the claims ended, counted through Temporal visibility (the Web UI's view)."""

from __future__ import annotations

from datetime import date
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from messages import periods as period_msg
from mutualaid.money import format_fen
from workers.output import errors as console
from workflows.search_attributes import CLAIM_STATE


def progress_line(day: date, status: period_msg.PeriodStatus) -> str:
    """A period's state as it moves: its N, cases, share, and what it waits for."""
    line = f"  period {day}: {status.state}"
    if status.members is not None:
        line += f", N={status.members:,}"
    if status.cases:
        line += f", {len(status.cases)} cases, {len(status.objected)} objected"
    if status.share_fen is not None:
        line += f", share {format_fen(status.share_fen)} yuan"
    if status.waiting_for:
        line += f", waiting for {status.waiting_for}"
    if status.problem and status.state == period_msg.PeriodState.DATA_INTEGRITY_STOP:
        line += f": {status.problem}"
    return line


def report_row(report: period_msg.PeriodReport) -> dict[str, Any]:
    """A period's report as the demo prints it (a table, or `--json`)."""
    return {
        "period": report.period,
        "members (N)": f"{report.members:,}",
        "cases cleared": report.cases,
        "aid": format_fen(report.aid_fen),
        "fee": format_fen(report.fee_fen),
        "surplus in": format_fen(report.surplus_in_fen),
        "share": format_fen(report.share_fen),
        "collected": format_fen(report.collected_fen),
        "operator subsidy": format_fen(report.subsidy_fen),
        "unpaid": format_fen(report.unpaid_fen),
        "surplus out": format_fen(report.surplus_out_fen),
        "payouts made": f"{report.payouts_made} ({format_fen(report.payouts_fen)})",
        "payouts missing": len(report.payouts_missing),
        "balanced": report.balanced,
    }


async def print_claims(client: Client) -> None:
    """How the claims ended, counted through Temporal visibility (the Web UI's view)."""
    counts: dict[str, int] = {}
    try:
        async for execution in client.list_workflows("WorkflowType = 'Claim'"):
            state = execution.typed_search_attributes.get(CLAIM_STATE) or "?"
            counts[state] = counts.get(state, 0) + 1
    except RPCError as exc:
        console.print(f"claims by state: not known now (Temporal: {exc.message})")
        return
    console.print("claims by state: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
