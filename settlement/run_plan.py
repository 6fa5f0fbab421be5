"""The plans a settlement run freezes before any shard runs, the tasks it hands its shards,
and what each shard task returns: typed values shared by the driver and the tasks.

This module is the one place where they become JSON and are read back. The JSON keeps the
keys and value formats runs have always written, because each document is read again: a
lock's `plan.json` and the shards' done markers in the store (by a resumed or re-run step,
which must write the same bytes, and by `settlement.outcome`), a debit run's frozen plan in
SQL (by a re-run, which must freeze the same plan, and by `settle reconcile`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import TypeVar

from mutualaid.errors import IntegrityError
from mutualaid.membership import MemberChange
from settlement.kernels import DebitStats, LockStats
from settlement.store import ShardFile

# A JSON object as json.loads gives it; read back only through `_Fields`.
Json = dict[str, object]
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class LockPlan:
    """A roster lock's frozen plan (`snapshots/roster-<day>/plan.json`): its parent snapshot
    and the exact member changes it folds. Every value comes from the calendar and the
    records, never the clock, so a resumed lock writes the same bytes as a clean one."""

    plan_id: str
    period: date
    snapshot: str
    parent: str
    change_ids: tuple[int, ...]
    exit_age_years: int
    opening_funds_fen: int
    rules_version: str
    frozen_at: datetime

    def to_json(self) -> Json:
        return {
            "plan_id": self.plan_id,
            "period": self.period.isoformat(),
            "snapshot": self.snapshot,
            "parent": self.parent,
            "change_ids": list(self.change_ids),
            "exit_age_years": self.exit_age_years,
            "opening_funds_fen": self.opening_funds_fen,
            "rules_version": self.rules_version,
            "frozen_at": self.frozen_at.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: object, *, source: str) -> LockPlan:
        f = _Fields(raw, "frozen plan", source)
        return cls(
            plan_id=f.text("plan_id"),
            period=f.day("period"),
            snapshot=f.text("snapshot"),
            parent=f.text("parent"),
            change_ids=f.integers("change_ids"),
            exit_age_years=f.integer("exit_age_years"),
            opening_funds_fen=f.integer("opening_funds_fen"),
            rules_version=f.text("rules_version"),
            frozen_at=f.moment("frozen_at"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPlan:
    """A debit attempt's frozen plan (the debit run's row in SQL): the share and N, the cap,
    the input and output snapshots, and on the last retry the day unpaid members are removed.
    `created_at` is the attempt's moment on the program calendar, not the clock, so a resumed
    run writes the same manifest as a clean one."""

    plan_id: str
    period: date
    sharing_date: date
    attempt: int
    share_fen: int
    members: int
    annual_cap_fen: int
    year: int
    rules_version: str
    input_snapshot: str
    output_snapshot: str
    shards: int
    remove_unpaid_on: date | None
    created_at: datetime

    def to_json(self) -> Json:
        return {
            "plan_id": self.plan_id,
            "period": self.period.isoformat(),
            "sharing_date": self.sharing_date.isoformat(),
            "attempt": self.attempt,
            "share_fen": self.share_fen,
            "members": self.members,
            "annual_cap_fen": self.annual_cap_fen,
            "year": self.year,
            "rules_version": self.rules_version,
            "input_snapshot": self.input_snapshot,
            "output_snapshot": self.output_snapshot,
            "shards": self.shards,
            "remove_unpaid_on": (
                self.remove_unpaid_on.isoformat() if self.remove_unpaid_on else None
            ),
            "created_at": self.created_at.isoformat(),
        }

    @staticmethod
    def output_snapshot_of(raw: object, *, source: str) -> str:
        """Only the snapshot an attempt wrote: what the next period builds on. Read alone, so
        plans frozen before a later field was added still lead the chain on."""
        return _Fields(raw, "frozen plan", source).text("output_snapshot")

    @classmethod
    def from_json(cls, raw: object, *, source: str) -> RunPlan:
        f = _Fields(raw, "frozen plan", source)
        return cls(
            plan_id=f.text("plan_id"),
            period=f.day("period"),
            sharing_date=f.day("sharing_date"),
            attempt=f.integer("attempt"),
            share_fen=f.integer("share_fen"),
            members=f.integer("members"),
            annual_cap_fen=f.integer("annual_cap_fen"),
            year=f.integer("year"),
            rules_version=f.text("rules_version"),
            input_snapshot=f.text("input_snapshot"),
            output_snapshot=f.text("output_snapshot"),
            shards=f.integer("shards"),
            remove_unpaid_on=f.optional_day("remove_unpaid_on"),
            created_at=f.moment("created_at"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LockShardTask:
    """One shard's part of a lock: the changes of the plan that touch its members, in
    recording order."""

    store_root: str
    plan: LockPlan
    shard: int
    changes: tuple[MemberChange, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitShardTask:
    store_root: str
    plan: RunPlan
    shard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerFile:
    path: str  # relative to the plan's folder in the store
    rows: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LockShardOutcome:
    """What one shard's lock wrote and counted: its done marker. `checksums` maps each file
    the task wrote (relative to the store) to its sha256."""

    file: ShardFile
    stats: LockStats
    checksums: Mapping[str, str]

    @property
    def shard(self) -> int:
        return self.stats.shard

    def to_json(self) -> Json:
        s = self.stats
        return {
            "shard": s.shard,
            "file": self.file.to_dict(),
            "stats": _counts(s),
            "checksums": dict(self.checksums),
        }

    @classmethod
    def from_json(cls, raw: object, *, source: str) -> LockShardOutcome:
        f = _Fields(raw, "done marker", source)
        stats = f.nested("stats")
        return cls(
            file=f.shard_file("file"),
            stats=_read_counts(LockStats, f.integer("shard"), stats),
            checksums=f.checksums("checksums"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitShardOutcome:
    """What one shard's debit wrote and counted: its done marker."""

    file: ShardFile
    ledger: LedgerFile
    stats: DebitStats
    checksums: Mapping[str, str]

    @property
    def shard(self) -> int:
        return self.stats.shard

    def to_json(self) -> Json:
        s = self.stats
        return {
            "shard": s.shard,
            "file": self.file.to_dict(),
            "ledger": {
                "path": self.ledger.path,
                "rows": self.ledger.rows,
                "sha256": self.ledger.sha256,
            },
            "stats": _counts(s),
            "checksums": dict(self.checksums),
        }

    @classmethod
    def from_json(cls, raw: object, *, source: str) -> DebitShardOutcome:
        f = _Fields(raw, "done marker", source)
        ledger, stats = f.nested("ledger"), f.nested("stats")
        return cls(
            file=f.shard_file("file"),
            ledger=LedgerFile(
                path=ledger.text("path"), rows=ledger.integer("rows"), sha256=ledger.text("sha256")
            ),
            stats=_read_counts(DebitStats, f.integer("shard"), stats),
            checksums=f.checksums("checksums"),
        )


def encode(document: Json) -> bytes:
    """A plan or a marker as the store holds it."""
    return json.dumps(document, sort_keys=True).encode()


def decode(data: bytes, *, source: str) -> object:
    """A stored plan or marker, parsed (IntegrityError when it is not JSON)."""
    try:
        parsed: object = json.loads(data)
    except ValueError:  # not JSON, or not UTF-8
        raise IntegrityError("file", source, "is corrupt") from None
    return parsed


Stats = TypeVar("Stats", LockStats, DebitStats)


def _counts(stats: LockStats | DebitStats) -> Json:
    """A shard's counts as its done marker holds them: every field but the shard (which the
    marker names once, at its top), in the fields' order."""
    return {f.name: getattr(stats, f.name) for f in fields(stats) if f.name != "shard"}


def _read_counts(kind: type[Stats], shard: int, counts: _Fields) -> Stats:
    names = [f.name for f in fields(kind) if f.name != "shard"]
    return kind(shard=shard, **{name: counts.integer(name) for name in names})


class _Fields:
    """Typed reads of one JSON object's fields: a missing or mistyped field is corrupt data."""

    def __init__(self, raw: object, what: str, source: str) -> None:
        if not isinstance(raw, dict):
            raise IntegrityError(what, source, "is corrupt: not a JSON object")
        self._raw: dict[str, object] = raw
        self._what = what
        self._source = source

    def text(self, key: str) -> str:
        value = self._raw.get(key)
        if not isinstance(value, str):
            raise self._bad(key)
        return value

    def integer(self, key: str) -> int:
        value = self._raw.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(key)
        return value

    def integers(self, key: str) -> tuple[int, ...]:
        values = self._raw.get(key)
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values
        ):
            raise self._bad(key)
        return tuple(values)

    def day(self, key: str) -> date:
        return self._parsed(key, date.fromisoformat)

    def optional_day(self, key: str) -> date | None:
        return None if self._raw.get(key) is None else self.day(key)

    def moment(self, key: str) -> datetime:
        return self._parsed(key, datetime.fromisoformat)

    def nested(self, key: str) -> _Fields:
        value = self._raw.get(key)
        if not isinstance(value, dict):
            raise self._bad(key)
        return _Fields(value, self._what, self._source)

    def shard_file(self, key: str) -> ShardFile:
        value = self._raw.get(key)
        try:
            if not isinstance(value, dict):
                raise TypeError(key)
            return ShardFile.from_dict(value)
        except (KeyError, TypeError, ValueError):
            raise self._bad(key) from None

    def checksums(self, key: str) -> dict[str, str]:
        values = self._raw.get(key)
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise self._bad(key)
        return {str(k): str(v) for k, v in values.items()}

    def _parsed(self, key: str, parse: Callable[[str], T]) -> T:
        text = self.text(key)
        try:
            return parse(text)
        except ValueError:
            raise self._bad(key) from None

    def _bad(self, key: str) -> IntegrityError:
        return IntegrityError(self._what, self._source, f"is corrupt: bad or missing {key!r}")
