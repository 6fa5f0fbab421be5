from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra.models import DebitRunRow, ShardCommitRow
from infra.repositories._common import insert_or_find
from infra.states import DebitRunState
from mutualaid.errors import InvariantError


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardTotals:
    shard: int
    rows: int
    paid_fen: int
    unpaid_fen: int
    subsidy_fen: int
    ledger_path: str
    ledger_sha256: str


class DebitRunRepository:
    """The commit protocol's SQL side: freeze the run's plan first, record each shard, commit
    the run last."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def freeze(
        self,
        *,
        period_id: int,
        attempt: int,
        share_fen: int,
        members: int,
        input_snapshot: str,
        frozen_plan: dict[str, Any],
        at: datetime,
    ) -> tuple[DebitRunRow, bool]:
        """Store the run's plan before any shard runs. Freezing again with the same plan
        returns the stored run (a resume); a different plan for the same attempt raises."""
        run, created = insert_or_find(
            self._session,
            DebitRunRow(
                period_id=period_id,
                attempt=attempt,
                share_fen=share_fen,
                members=members,
                input_snapshot=input_snapshot,
                frozen_plan=frozen_plan,
                state=DebitRunState.PLANNED,
                planned_at=at,
            ),
            lambda: self.get(period_id, attempt),
        )
        if not created and (run.frozen_plan, run.share_fen, run.members) != (
            frozen_plan,
            share_fen,
            members,
        ):
            raise InvariantError(
                f"debit run {period_id}/{attempt} was frozen with another plan; "
                "refusing to change it"
            )
        return run, created

    def get(self, period_id: int, attempt: int) -> DebitRunRow | None:
        return self._session.scalars(
            select(DebitRunRow).where(
                DebitRunRow.period_id == period_id, DebitRunRow.attempt == attempt
            )
        ).one_or_none()

    def runs(self, period_id: int) -> list[DebitRunRow]:
        return list(
            self._session.scalars(
                select(DebitRunRow)
                .where(DebitRunRow.period_id == period_id)
                .order_by(DebitRunRow.attempt)
            )
        )

    def committed(self, period_id: int) -> list[DebitRunRow]:
        """The period's committed runs, in attempt order."""
        return [r for r in self.runs(period_id) if r.state == DebitRunState.COMMITTED]

    def record_shard(self, run: DebitRunRow, totals: ShardTotals) -> ShardCommitRow:
        """Record a finished shard; the same shard again must carry the same figures."""
        row, _ = insert_or_find(
            self._session,
            ShardCommitRow(
                run_id=run.id,
                shard=totals.shard,
                rows=totals.rows,
                paid_fen=totals.paid_fen,
                unpaid_fen=totals.unpaid_fen,
                subsidy_fen=totals.subsidy_fen,
                ledger_path=totals.ledger_path,
                ledger_sha256=totals.ledger_sha256,
            ),
            lambda: self._shard(run.id, totals.shard),
        )
        if row.ledger_sha256 != totals.ledger_sha256:
            raise InvariantError(
                f"shard {totals.shard} of run {run.id} already committed with another ledger"
            )
        return row

    def _shard(self, run_id: int, shard: int) -> ShardCommitRow | None:
        return self._session.scalars(
            select(ShardCommitRow).where(
                ShardCommitRow.run_id == run_id, ShardCommitRow.shard == shard
            )
        ).one_or_none()

    def shards(self, run: DebitRunRow) -> list[ShardCommitRow]:
        return list(
            self._session.scalars(
                select(ShardCommitRow)
                .where(ShardCommitRow.run_id == run.id)
                .order_by(ShardCommitRow.shard)
            )
        )

    def commit(self, run: DebitRunRow, *, at: datetime) -> bool:
        """Mark the run committed with totals summed from its shard rows. Returns False when it
        was committed already: the state moves from planned to committed in one conditional
        UPDATE, so of two drivers racing on the same run exactly one commits."""
        shards = self.shards(run)
        moved = self._session.execute(
            update(DebitRunRow)
            .where(DebitRunRow.id == run.id, DebitRunRow.state == DebitRunState.PLANNED)
            .values(
                state=DebitRunState.COMMITTED,
                committed_at=at,
                paid_fen=sum(s.paid_fen for s in shards),
                unpaid_fen=sum(s.unpaid_fen for s in shards),
                subsidy_fen=sum(s.subsidy_fen for s in shards),
            )
        )
        self._session.refresh(run)
        return bool(moved.rowcount == 1)  # type: ignore[attr-defined]
