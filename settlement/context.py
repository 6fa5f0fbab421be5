"""What every settlement step needs (`Settlement`), and how a step finds its period in SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from infra.models import PeriodRow
from infra.repositories import PeriodRepository
from infra.states import PeriodStage
from messages.periods import workflow_id as period_workflow_id
from mutualaid.errors import NotYetError, RefusedError
from mutualaid.plan import Plan
from settlement.executor import Executor, Progress
from settlement.store import MemberStore


@dataclass(frozen=True, slots=True, kw_only=True)
class Settlement:
    """What every run needs: the SQL engine, the member store, the plan, where tasks run."""

    db: Engine
    store_root: str
    plan: Plan
    executor: Executor
    progress: Callable[[str], Progress] | None = None

    def store(self) -> MemberStore:
        return MemberStore.open(self.store_root, self.plan.id)

    def progress_of(self, label: str) -> Progress | None:
        """The progress hook for one batch of shard tasks, when the caller gave one."""
        return self.progress(label) if self.progress is not None else None


def period_row(session: Session, plan_id: str, publicity_date: date) -> PeriodRow:
    """A period a step works on: it must exist (else the step waits for its lock) and not be
    cancelled (else the step is refused)."""
    period = PeriodRepository(session).get(plan_id, publicity_date)
    workflow_id = period_workflow_id(plan_id, publicity_date)
    if period is None:
        raise NotYetError(
            "period", workflow_id, "does not exist; lock it first", waiting_for=workflow_id
        )
    if period.state == PeriodStage.CANCELLED:
        raise RefusedError("period", workflow_id, "was cancelled")
    return period
