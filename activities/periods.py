"""The period workflow's activities, built together over one set of resources.

Thin adapters over the settlement engine and SQL, one module per concern:
`activities.period_settlement` (lock the roster, fix the share, debit, retry),
`activities.publicity` (gather the cases, publish the list, close the objection window),
`activities.period_report` (the final report, and what SQL says a period has done),
`activities.telling` (the period's messages to its claims, a batch at a time), and
`activities.heartbeats` (how each of them heartbeats).

Each is idempotent: the engine's steps are no-ops once committed and resume the same run
after a crash; SQL writes go through unique keys; a period's publicity list, once in SQL, is
the list (gathering or publishing again returns it, never other cases). Every step
heartbeats while it makes progress (the engine's steps per shard, the list steps per case),
so a dead worker is noticed within the workflow's heartbeat timeout and the step resumes on
another worker, and a step stalled for the stall limit is retried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import Engine

from activities.period_report import PeriodReportActivities
from activities.period_settlement import PeriodSettlementActivities, SettlementSource
from activities.publicity import PublicityActivities
from activities.telling import ClaimTelling
from mutualaid.plan import Plan
from settlement.engine import DEFAULT_OPENING_FUNDS_FEN
from settlement.executor import Executor


class PeriodActivities:
    """Every activity the period workflow calls: `settlement`, `publicity` and `report`."""

    def __init__(
        self,
        *,
        engine: Engine,
        store_root: str,
        plans: Mapping[str, Plan],
        executor: Callable[[], Executor],
        publicity_dir: Path,
        opening_funds_fen: int = DEFAULT_OPENING_FUNDS_FEN,
    ) -> None:
        source = SettlementSource(
            engine=engine, store_root=store_root, plans=dict(plans), executor=executor
        )
        self.settlement = PeriodSettlementActivities(
            source=source, opening_funds_fen=opening_funds_fen
        )
        self.publicity = PublicityActivities(
            engine=engine, store_root=store_root, plans=plans, publicity_dir=publicity_dir
        )
        self.report = PeriodReportActivities(source=source)
        self.telling = ClaimTelling()

    @property
    def all(self) -> list[Callable[..., object]]:
        """The activities to register on a worker."""
        return [
            self.settlement.lock,
            self.publicity.gather,
            self.publicity.publish,
            self.publicity.list_cases,
            self.telling.tell_claims,
            self.publicity.close_window,
            self.settlement.fix_share,
            self.settlement.debit,
            self.settlement.retry,
            self.report.final_report,
            self.report.recorded,
        ]
