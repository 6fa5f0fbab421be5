from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import PlanRow, RulesVersionRow
from infra.plans import PlanSource
from infra.repositories._common import insert_or_find
from mutualaid.errors import PlanError


class PlanRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, source: PlanSource, *, at: datetime) -> RulesVersionRow:
        """Store a plan's rules version. Storing the same text again is a no-op; different
        rules under a version already stored are refused: history is never rewritten."""
        plan = source.plan
        if self._session.get(PlanRow, plan.id) is None:
            insert_or_find(
                self._session,
                PlanRow(id=plan.id, name=plan.name, created_at=at),
                lambda: self._session.get(PlanRow, plan.id),
            )
        row, _ = insert_or_find(
            self._session,
            RulesVersionRow(
                plan_id=plan.id,
                rules_version=plan.rules_version,
                effective_from=plan.effective_from,
                content_sha256=source.sha256,
                content=source.text,
                loaded_at=at,
            ),
            lambda: self.version(plan.id, plan.rules_version),
        )
        if row.content_sha256 != source.sha256:
            raise PlanError(
                f"{plan.id}.rules_version",
                plan.rules_version,
                "is already recorded with different rules; a rule change needs a new version",
            )
        return row

    def version(self, plan_id: str, rules_version: str) -> RulesVersionRow | None:
        return self._session.scalars(
            select(RulesVersionRow).where(
                RulesVersionRow.plan_id == plan_id,
                RulesVersionRow.rules_version == rules_version,
            )
        ).one_or_none()

    def versions(self, plan_id: str) -> list[RulesVersionRow]:
        return list(
            self._session.scalars(
                select(RulesVersionRow)
                .where(RulesVersionRow.plan_id == plan_id)
                .order_by(RulesVersionRow.effective_from, RulesVersionRow.id)
            )
        )

    def plans(self) -> list[PlanRow]:
        return list(self._session.scalars(select(PlanRow).order_by(PlanRow.id)))
