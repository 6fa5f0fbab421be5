"""`/metrics` for Prometheus: the program's numbers read at scrape time (claims by plan and
state, overdue, open claim and period workflows, each plan's latest period's money and a
running debit's progress), followed by the Temporal SDK's own metrics of the console's
client, which the SDK serves on a loopback port of its own."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import select

from console.claims import pipeline_counts
from console.periods import debit_runs
from infra.db import reading
from infra.models import PeriodRow

if TYPE_CHECKING:
    from console.app import ConsoleContext

log = logging.getLogger("mutualaid.console")


class ConsoleMetrics:
    def __init__(self, ctx: ConsoleContext) -> None:
        self._ctx = ctx

    async def render(self) -> bytes:
        registry = CollectorRegistry()
        await asyncio.to_thread(self._from_sql, registry)
        await self._from_temporal(registry)
        body = generate_latest(registry)
        if self._ctx.sdk_metrics_url is not None:
            body += await asyncio.to_thread(_fetch, self._ctx.sdk_metrics_url)
        return body

    def _from_sql(self, registry: CollectorRegistry) -> None:
        claims = Gauge(
            "mutualaid_claims", "Claims by plan and state", ["plan", "state"], registry=registry
        )
        overdue = Gauge(
            "mutualaid_claims_overdue",
            "Claims past a review, investigation, decision or payout deadline",
            ["plan", "state"],
            registry=registry,
        )
        money = Gauge(
            "mutualaid_period_fen",
            "Each plan's latest period's money, in fen",
            ["plan", "period", "item"],
            registry=registry,
        )
        members = Gauge(
            "mutualaid_period_members",
            "N of each plan's latest period",
            ["plan", "period"],
            registry=registry,
        )
        shards = Gauge(
            "mutualaid_debit_shards",
            "A running debit's shards, done and in all",
            ["plan", "period", "attempt", "kind"],
            registry=registry,
        )
        debited = Gauge(
            "mutualaid_debit_members_done",
            "Members in a running debit's finished shards",
            ["plan", "period", "attempt"],
            registry=registry,
        )
        rate = Gauge(
            "mutualaid_debit_members_per_second",
            "A running debit's members debited a second so far",
            ["plan", "period", "attempt"],
            registry=registry,
        )
        with reading(self._ctx.engine) as session:
            for row in pipeline_counts(session):
                claims.labels(row["plan"], row["state"]).set(row["claims"])
                overdue.labels(row["plan"], row["state"]).set(row["overdue"])
            for plan_id in sorted(self._ctx.plans):
                latest = session.scalars(
                    select(PeriodRow)
                    .where(PeriodRow.plan_id == plan_id)
                    .order_by(PeriodRow.publicity_date.desc())
                    .limit(1)
                ).first()
                if latest is None:
                    continue
                key = latest.workflow_id
                for item, value in (
                    ("aid", latest.aid_fen),
                    ("fee", latest.fee_fen),
                    ("share", latest.share_fen),
                    ("collected", latest.collected_fen),
                    ("unpaid", latest.unpaid_fen),
                    ("subsidy", latest.subsidy_fen),
                    ("surplus_out", latest.surplus_out_fen),
                ):
                    if value is not None:
                        money.labels(plan_id, key, item).set(value)
                if latest.members is not None:
                    members.labels(plan_id, key).set(latest.members)
                # Only the runs: a scrape reads no cases or payouts.
                runs = debit_runs(session, latest, self._ctx.settings.store_root, self._ctx.clock)
                for run in runs:
                    progress = run.get("progress")
                    if progress is None:
                        continue
                    attempt = str(run["attempt"])
                    shards.labels(plan_id, key, attempt, "done").set(progress["shards_done"])
                    shards.labels(plan_id, key, attempt, "all").set(progress["shards"])
                    debited.labels(plan_id, key, attempt).set(progress["members_done"])
                    if progress["members_per_second"] is not None:
                        rate.labels(plan_id, key, attempt).set(progress["members_per_second"])

    async def _from_temporal(self, registry: CollectorRegistry) -> None:
        up = Gauge("mutualaid_temporal_up", "Whether Temporal answered", registry=registry)
        running = Gauge(
            "mutualaid_open_workflows", "Running workflows by type", ["type"], registry=registry
        )
        try:
            client = await asyncio.wait_for(self._ctx.client(), 5)
            for kind in ("Claim", "Period"):
                counted = await asyncio.wait_for(
                    client.count_workflows(
                        f"WorkflowType = '{kind}' AND ExecutionStatus = 'Running'"
                    ),
                    5,
                )
                running.labels(kind).set(counted.count)
        except Exception as exc:  # a scrape reports Temporal down, it does not fail
            log.warning("metrics: Temporal did not answer: %s", type(exc).__name__)
            up.set(0)
            return
        up.set(1)


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            data: bytes = answer.read()
            return data
    except OSError as exc:
        log.warning("metrics: the SDK's metrics did not answer: %s", type(exc).__name__)
        return b""
