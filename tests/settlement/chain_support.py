"""What the chain tests compare: every SQL row and every file of a store, bytes and all."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from infra.db import reading
from infra.models import Base
from mutualaid.calendar import sharing_day_for
from settlement.engine import Settlement
from settlement.reconcile_period import reconcile_period


def sql_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with reading(engine) as session:
        for table in Base.metadata.sorted_tables:
            query = select(table).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(r) for r in session.execute(query)]
    return rows


def store_tree(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under the store with its bytes, inode and modification time: a file
    rewritten with the same bytes still shows as changed."""
    tree = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            info = os.stat(path)
            tree[str(path.relative_to(root))] = (path.read_bytes(), info.st_ino, info.st_mtime_ns)
    return tree


def store_bytes(root: Path) -> dict[str, bytes]:
    """Every file under a store with its bytes (for comparing two stores)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def periods_from(first: date, count: int) -> list[date]:
    """`count` publicity days from `first` on, in calendar order."""
    days = [first]
    while len(days) < count:
        day = days[-1]
        days.append(
            day.replace(day=21)
            if day.day == 7
            else (day.replace(day=1) + timedelta(days=32)).replace(day=7)
        )
    return days


def chain_problems(ctx: Settlement, publicity_dates: list[date]) -> list[str]:
    """Reconcile every period that has a roster: chain, yearly cap, removals, and the money of
    every committed run."""
    problems: list[str] = []
    for day in publicity_dates:
        if not ctx.store().has_manifest(f"roster-{day.isoformat()}"):
            continue
        check = reconcile_period(ctx, day)
        problems += [f"{day}: {p}" for p in check.problems]
    return problems


def sharing(day: date) -> date:
    return sharing_day_for(day)
