"""A synthetic population written straight into the member store, shard by shard.

Seeded and reproducible: shard s is drawn from its own generator seeded with (seed, s), so the
result does not depend on the order or the number of processes that write the shards. Every
column is drawn with numpy in one go per shard.
"""

from __future__ import annotations

import os.path
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.fs as pafs

from mutualaid.age_structure import AGE_BAND_YEARS, AGE_WEIGHTS
from mutualaid.calendar import latest_birth_date_for_age, start_of_day
from mutualaid.errors import InputError
from mutualaid.plan import Plan
from settlement.executor import Executor, InlineExecutor
from settlement.kernels import day_number
from settlement.schema import COVERED, MEMBERS
from settlement.store import Manifest, MemberStore, ShardFile

# Age structure of the members on the population date: the core's assumption
# (`mutualaid.age_structure`). Birth days are uniform within a band, so the count thins out at
# 60 with no pile-up at the limit: about 4% of members are in the last year before 60, so
# about 0.15% turn 60 in the two weeks before the first lock.
_AGE_BAND_YEARS = np.array(AGE_BAND_YEARS)
_AGE_WEIGHTS = np.array(AGE_WEIGHTS)
# Chronic group of each member's main condition (1 three highs ... 8 other).
_GROUP_WEIGHTS = np.array([0.34, 0.12, 0.06, 0.10, 0.14, 0.06, 0.08, 0.10])
# Family sizes: a paying member with 0, 1 or 2 attached members.
_FAMILY_WEIGHTS = np.array([0.72, 0.20, 0.08])


@dataclass(frozen=True, slots=True, kw_only=True)
class PopulationSpec:
    members: int
    shards: int
    seed: int
    as_of: date
    # Accounts that can never pay (their members are removed after the retries).
    cannot_pay: Fraction = Fraction(1, 100)
    # Accounts empty on the sharing day whose money arrives before the first retry.
    pays_late: Fraction = Fraction(2, 100)
    # Shares already charged this year are drawn around this typical share per period.
    typical_share_fen: int = 470

    @property
    def snapshot(self) -> str:
        return f"population-n{self.members}-seed{self.seed}"


def generate_population(
    store_root: str,
    plan: Plan,
    spec: PopulationSpec,
    *,
    executor: Executor | None = None,
    on_shard: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Write the population as the store's first snapshot and point HEAD at it. Running it
    again with the same spec reuses the snapshot; a store that already holds another
    population or later snapshots is refused."""
    check_spec(plan, spec)
    check_store_root(store_root, plan.id)
    store = MemberStore.create(store_root, plan.id, shards=spec.shards)
    head = store.head()
    if head is not None:
        if head == spec.snapshot:
            return store.manifest(head)
        raise InputError(
            "store", f"{store_root}/{plan.id}", f"already holds snapshot {head}; use a fresh store"
        )
    written = (executor or InlineExecutor()).map(
        population_task,
        [(store_root, plan, spec, shard) for shard in range(spec.shards)],
        on_done=on_shard,
    )
    files = [ShardFile.from_dict(w) for w in written]
    manifest = Manifest(
        snapshot=spec.snapshot,
        plan_id=plan.id,
        kind="population",
        parent=None,
        rules_version=plan.rules_version,
        period=None,
        shards=tuple(files),
        # From the spec, not the clock: the same spec always writes the same bytes.
        created_at=start_of_day(spec.as_of).isoformat(),
    )
    store.commit_snapshot(manifest)
    return manifest


def check_spec(plan: Plan, spec: PopulationSpec) -> None:
    """Refuse a spec that cannot make a population, before anything starts or is written."""
    if spec.members < 1:
        raise InputError("members", spec.members, "must be at least 1")
    if not 1 <= spec.shards <= 65_536:
        raise InputError("shards", spec.shards, "must be between 1 and 65536")
    if spec.as_of <= plan.effective_from:
        raise InputError(
            "as_of", spec.as_of.isoformat(), f"is not after plan start {plan.effective_from}"
        )
    if spec.cannot_pay + spec.pays_late > 1 or spec.cannot_pay < 0 or spec.pays_late < 0:
        raise InputError("cannot_pay", str(spec.cannot_pay), "shares of accounts must fit in 1")


def check_store_root(store_root: str, plan_id: str) -> None:
    """Refuse a store root that is a file or lies under one (a typo, a wrong argument order),
    with one line naming it, before anything is created."""
    try:
        fs, base = pafs.FileSystem.from_uri(store_root)
    except (pa.ArrowInvalid, ValueError):
        # A plain path (as the member store reads it): the local filesystem.
        fs, base = pafs.LocalFileSystem(), os.path.abspath(store_root)
    # From the plan's folder up: the first thing that exists must be a folder.
    path = f"{base.rstrip('/')}/{plan_id}"
    while path:
        kind = fs.get_file_info(path).type
        if kind == pafs.FileType.Directory:
            return
        if kind != pafs.FileType.NotFound:
            root = base.rstrip("/")
            if path == root:
                reason = "is a file, not a directory"
            elif path.startswith(root + "/"):
                reason = f"has a file {path} where plan {plan_id}'s store goes"
            else:
                reason = f"is not a directory: {path} is a file"
            raise InputError("store", store_root, reason)
        parent = posixpath.dirname(path)
        if parent == path:
            return
        path = parent


def population_task(
    store_root: str, plan: Plan, spec: PopulationSpec, shard: int
) -> dict[str, Any]:
    """Draw and write one shard (a task: it runs wherever the executor puts it)."""
    store = MemberStore.open(store_root, plan.id)
    return store.write_shard(spec.snapshot, shard, population_shard(plan, spec, shard)).to_dict()


def shard_member_ids(members: int, shards: int, shard: int) -> npt.NDArray[np.int64]:
    """Member ids 1..members that live in a shard (id % shards == shard)."""
    first = shard if shard > 0 else shards
    return np.arange(first, members + 1, shards, dtype=np.int64)


def population_shard(plan: Plan, spec: PopulationSpec, shard: int) -> pa.Table:
    ids = shard_member_ids(spec.members, spec.shards, shard)
    n = len(ids)
    rng = np.random.default_rng([spec.seed, shard])

    # Families are runs of consecutive ids in the shard, so payer and attached members always
    # share a shard (the debit of a family never crosses shards).
    sizes = _draw(rng, _FAMILY_WEIGHTS, n) + 1
    family_of = np.repeat(np.arange(n), sizes)[:n]
    starts = np.flatnonzero(np.r_[True, family_of[1:] != family_of[:-1]])
    payer_index = np.repeat(starts, np.diff(np.r_[starts, n]))
    payers = ids[payer_index]
    is_payer = payer_index == np.arange(n)

    first_day = day_number(plan.effective_from)
    last_day = day_number(spec.as_of) - 1
    births = _draw_births(rng, plan, spec, n)
    # Joined on a day when the member was old enough and young enough to join, after the plan
    # started and before the population date. Under max_age_years + 1 at joining, counting
    # 365-day years (a few days on the safe side).
    min_days = plan.joining.min_age_days
    max_days = (plan.joining.max_age_years + 1) * 365 - 1
    births = np.maximum(births, first_day - max_days)  # binds only in a plan's first weeks
    earliest = np.maximum(first_day, births + min_days)
    latest = np.minimum(last_day, births + max_days)
    joined = rng.integers(earliest, latest + 1)
    # An attached member joined on or after the payer, where its joining ages allow it.
    joined = np.minimum(np.maximum(joined, joined[payer_index]), latest)

    main_group = _draw(rng, _GROUP_WEIGHTS, n)
    second = rng.random(n) < 0.2
    other_group = rng.integers(0, 8, size=n)
    groups = (1 << main_group) | np.where(second, 1 << other_group, 0)

    kind = rng.random(n)
    cannot = kind < float(spec.cannot_pay)  # drawing categories, not money
    late = (~cannot) & (kind < float(spec.cannot_pay + spec.pays_late))
    funds = rng.integers(50_00, 500_01, size=n)
    funds = np.where(cannot | late, 0, funds)
    deposits = np.where(late, 200_00, 0)
    funds = np.where(is_payer, funds, 0)
    deposits = np.where(is_payer, deposits, 0)

    year_start = day_number(date(spec.as_of.year, 1, 1))
    periods_this_year = np.maximum(0, (last_day - np.maximum(joined, year_start)) // 14)
    paid = np.minimum(
        periods_this_year * spec.typical_share_fen, plan.sharing.annual_cap_fen
    ).astype(np.int64)

    return pa.table(
        {
            "member_id": pa.array(ids, pa.int64()),
            "payer_id": pa.array(payers, pa.int64()),
            "birth_date": pa.array(births.astype(np.int32), pa.date32()),
            "join_date": pa.array(joined.astype(np.int32), pa.date32()),
            "chronic_groups": pa.array(groups.astype(np.uint8), pa.uint8()),
            "status": pa.array(np.full(n, COVERED, dtype=np.int8)),
            "exit_reason": pa.array(np.zeros(n, dtype=np.int8)),
            "exit_date": pa.nulls(n, pa.date32()),
            "funds_fen": pa.array(funds.astype(np.int64)),
            "deposit_fen": pa.array(deposits.astype(np.int64)),
            "paid_year": pa.array(np.full(n, spec.as_of.year, dtype=np.int16)),
            "paid_this_year_fen": pa.array(paid),
            "unpaid_fen": pa.array(np.zeros(n, dtype=np.int64)),
        },
        schema=MEMBERS,
    )


def _draw_births(
    rng: np.random.Generator, plan: Plan, spec: PopulationSpec, n: int
) -> npt.NDArray[np.int64]:
    """Birth days (day numbers) with the age structure above on the population date: a band
    by its weight, then a day uniformly inside it. Everyone is under the exit age on that date
    and old enough to have joined the day before it."""
    exit_age = plan.joining.exit_age_years
    tops = np.minimum(_AGE_BAND_YEARS, exit_age)
    weights = np.where(tops[1:] > tops[:-1], _AGE_WEIGHTS, 0.0)
    band = _draw(rng, weights, n)
    # Born after the last birth day of someone `top` years old, on or before that of someone
    # `bottom` years old: exactly `bottom` <= age < `top` on the population date.
    edges = np.array(
        [day_number(latest_birth_date_for_age(int(y), spec.as_of)) for y in tops],
        dtype=np.int64,
    )
    youngest = day_number(spec.as_of) - 1 - plan.joining.min_age_days
    oldest = edges[band + 1] + 1
    newest = np.minimum(edges[band], youngest)
    births: npt.NDArray[np.int64] = rng.integers(oldest, np.maximum(newest, oldest) + 1)
    return births


def _draw(
    rng: np.random.Generator, weights: npt.NDArray[np.float64], n: int
) -> npt.NDArray[np.int64]:
    """n categories drawn with the given weights (inverse CDF: much faster than choice)."""
    edges = np.cumsum(weights)
    drawn: npt.NDArray[np.int64] = np.searchsorted(edges / edges[-1], rng.random(n), side="right")
    return np.minimum(drawn, len(weights) - 1)
