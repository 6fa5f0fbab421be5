"""A property test of the money path: random sequences of lock, debit, retry, catch-up and
cancel steps over four periods across a year boundary, in legal and illegal orders, with the
driver killed at random writes. After every step: the outcome is the one the rules give
(done, already done, not yet, refused); a refusal or a re-run of a committed step changed no
SQL row and no file (bytes, inode and time); no fork, nobody charged after removal, nobody
over the annual cap, every period balanced."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from infra.db import make_engine, unit_of_work, upgrade
from infra.plans import builtin_plan_sources
from infra.repositories import PlanRepository
from mutualaid.calendar import roster_cutoff, start_of_day
from mutualaid.errors import InputError, NotYetError, RefusedError
from settlement import files as files_module
from settlement.engine import Settlement, cancel_period, debit, lock_roster, retry
from settlement.executor import InlineExecutor
from settlement.population import PopulationSpec, generate_population
from tests.conftest import fresh_postgres_database
from tests.settlement.chain_support import chain_problems, sql_rows, store_tree
from tests.settlement.conftest import CHRONIC

# Four periods; the third is shared on 12-28 and the fourth on 2027-01-14 (a new cap year).
PERIODS = [date(2026, 11, 21), date(2026, 12, 7), date(2026, 12, 21), date(2027, 1, 7)]
# Shares of about 80 yuan on 400 members: the 188-yuan cap binds within the year and some
# accounts cannot pay, so removals happen.
AIDS = [3_000_000, 2_800_000, 3_200_000, 3_000_000]
LAST = CHRONIC.plan.sharing.debit_retry_days


class Killed(BaseException):
    """The driver dies here (BaseException: nothing in the engine catches it)."""


class KillSwitch:
    """Kills the driver before its n-th write: a file put in place, HEAD moved, or an SQL
    commit."""

    def __init__(self) -> None:
        self.left: int | None = None
        self.fired = False

    def tick(self) -> None:
        if self.left is None:
            return
        if self.left == 0:
            self.left = None
            self.fired = True
            raise Killed
        self.left -= 1


@dataclass
class Model:
    """What the rules say the state is, to predict each step's outcome."""

    locked: set[int] = field(default_factory=set)
    cancelled: set[int] = field(default_factory=set)
    committed: dict[int, int] = field(default_factory=dict)  # period -> last attempt

    def closed(self, i: int) -> bool:
        return self.committed.get(i, -1) == LAST

    def live(self) -> list[int]:
        return sorted(self.locked - self.cancelled)

    def wanted(self, step: Step) -> int:
        """The attempt a retry step runs."""
        if step.attempt is not None:
            return step.attempt
        return min(self.committed.get(step.period, -1) + 1, LAST)

    def next_step(self) -> tuple[str, int, int | None]:
        """The calendar's next legal step (a catch-up after an outage runs these)."""
        live = self.live()
        if not live:
            return "lock", 0, None
        last = live[-1]
        if last not in self.committed:
            return "debit", last, None
        if not self.closed(last):
            return "retry", last, None
        return "lock", min(last + 1, len(PERIODS) - 1), None


@dataclass(frozen=True)
class Step:
    kind: str
    period: int
    attempt: int | None
    timing: str
    kill_at: int | None


steps = st.builds(
    Step,
    kind=st.sampled_from(["next"] * 5 + ["lock", "debit", "retry", "cancel"]),
    period=st.integers(0, len(PERIODS) - 1),
    attempt=st.one_of(st.none(), st.integers(1, LAST)),
    timing=st.sampled_from(["due", "late", "late", "early"]),
    kill_at=st.one_of(st.none(), st.none(), st.integers(0, 25)),
)


def moment(day_start: datetime, timing: str) -> datetime:
    if timing == "early":
        return day_start - timedelta(hours=1)
    if timing == "due":
        return day_start + timedelta(minutes=5)
    return day_start + timedelta(days=40)  # a catch-up long after the day


def sharing(i: int) -> date:
    return PERIODS[i] + timedelta(days=7)


def expected(model: Model, step: Step) -> tuple[str, Callable[[Settlement], Any]]:
    """The outcome the rules give ("done", "already", "notyet", "refused", "input") and the
    call that makes the step."""
    i, timing = step.period, step.timing
    if step.kind == "lock":
        now = moment(roster_cutoff(PERIODS[i]), timing)
        call = lambda ctx: lock_roster(ctx, PERIODS[i], now=now)  # noqa: E731
        later = [j for j in model.live() if j > i]
        earlier = [j for j in model.live() if j < i]
        if timing == "early":
            return "notyet", call
        if i in model.cancelled:
            return "refused", call
        if i in model.locked:
            return "already", call
        if later:
            return "refused", call
        if earlier and any(k not in model.cancelled for k in range(earlier[-1] + 1, i)):
            return "notyet", call  # a publicity day in between never ran: no skipping
        if earlier and not model.closed(earlier[-1]):
            return "notyet", call
        return "done", call
    if step.kind == "debit":
        now = moment(start_of_day(sharing(i)), timing)
        call = lambda ctx: debit(ctx, sharing(i), aid_fen=AIDS[i], now=now)  # noqa: E731
        if timing == "early":
            return "notyet", call
        if i in model.cancelled:
            return "refused", call
        if i not in model.locked:
            return "notyet", call
        return ("already" if i in model.committed else "done"), call
    if step.kind == "retry":
        last = model.committed.get(i, -1)
        wanted = model.wanted(step)
        now = moment(start_of_day(sharing(i) + timedelta(days=max(wanted, 1))), timing)
        call = lambda ctx: retry(ctx, sharing(i), now=now, attempt=step.attempt)  # noqa: E731
        if i in model.cancelled:
            return "refused", call
        if i not in model.locked or last < 0:
            return "notyet", call
        if wanted <= last:
            return "already", call
        if wanted - 1 > last or timing == "early":
            return "notyet", call
        return "done", call
    now = datetime(2027, 6, 1, tzinfo=UTC)
    call = lambda ctx: cancel_period(ctx, PERIODS[i], reason="test", now=now)  # noqa: E731
    if i in model.cancelled:
        return "already", call
    if i in model.committed or any(j > i for j in model.live()):
        return "refused", call
    return "done", call  # a day never locked is skipped on purpose: a cancelled row


def apply(model: Model, step: Step) -> None:
    i = step.period
    if step.kind == "lock":
        model.locked.add(i)
    elif step.kind == "debit":
        model.committed[i] = 0
    elif step.kind == "retry":
        model.committed[i] = model.wanted(step)
    else:
        model.cancelled.add(i)


OUTCOMES = {NotYetError: "notyet", RefusedError: "refused", InputError: "input"}


def outcome_of(call: Callable[[Settlement], Any], ctx: Settlement) -> str:
    try:
        result = call(ctx)
    except (NotYetError, RefusedError, InputError) as exc:
        return next(name for kind, name in OUTCOMES.items() if isinstance(exc, kind))
    return "already" if result.already_done else "done"


@contextmanager
def kill_switch(db: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[KillSwitch]:
    switch = KillSwitch()
    place, write = files_module._place_if_absent, files_module._write_atomic

    def placing(*args: Any) -> bool:
        switch.tick()
        return place(*args)

    def writing(*args: Any) -> None:
        switch.tick()
        write(*args)

    def committing(connection: Any) -> None:
        switch.tick()

    monkeypatch.setattr(files_module, "_place_if_absent", placing)
    monkeypatch.setattr(files_module, "_write_atomic", writing)
    event.listen(db, "commit", committing)
    try:
        yield switch
    finally:
        event.remove(db, "commit", committing)


def drive(db: Engine, root: Path, sequence: list[Step], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = Settlement(db=db, store_root=str(root), plan=CHRONIC.plan, executor=InlineExecutor())
    model = Model()
    with kill_switch(db, monkeypatch) as switch:
        for raw in sequence:
            step = raw
            if raw.kind == "next":
                kind, period, attempt = model.next_step()
                step = Step(kind, period, attempt, raw.timing, raw.kill_at)
            want, call = expected(model, step)
            before = (sql_rows(db), store_tree(root))
            switch.left, switch.fired = step.kill_at, False
            try:
                got = outcome_of(call, ctx)
            except Killed:
                switch.left = None
                if step.kind == "retry" and step.attempt is None:
                    # Killed after its commit, a plain `settle retry` would go on to the next
                    # attempt; the operator finishing this one names it.
                    step = Step(step.kind, step.period, model.wanted(step), step.timing, None)
                    _, call = expected(model, step)
                got = outcome_of(call, ctx)  # the operator runs it again; it must finish
                if want == "done" and got == "already":
                    got = "done"  # killed after its commit, before HEAD moved: the rerun ends it
            switch.left = None  # a step with fewer writes than kill_at was not killed
            assert got == want, (step, model)
            if got in ("notyet", "refused", "input") or (got == "already" and not switch.fired):
                assert (sql_rows(db), store_tree(root)) == before, step
            if got == "done":
                apply(model, step)
            problems = chain_problems(ctx, PERIODS)
            assert not problems, (step, problems)


@dataclass
class Templates:
    """A migrated SQLite database and a generated population, copied for each example."""

    folder: Path

    @property
    def database(self) -> Path:
        return self.folder / "template.db"

    @property
    def store(self) -> Path:
        return self.folder / "store"


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    made = Templates(tmp_path_factory.mktemp("chain-templates"))
    engine = make_engine(f"sqlite:///{made.database}")
    upgrade(engine)
    with unit_of_work(engine) as session:
        for source in builtin_plan_sources():
            PlanRepository(session).record(source, at=datetime(2027, 6, 1, tzinfo=UTC))
    engine.dispose()
    generate_population(
        str(made.store),
        CHRONIC.plan,
        PopulationSpec(members=400, shards=2, seed=11, as_of=date(2026, 10, 1)),
    )
    return made


def run_on_sqlite(templates: Templates, sequence: list[Step], mp: pytest.MonkeyPatch) -> None:
    folder = Path(tempfile.mkdtemp(prefix="chain-"))
    try:
        shutil.copy(templates.database, folder / "db.sqlite")
        shutil.copytree(templates.store, folder / "store")
        db = make_engine(f"sqlite:///{folder / 'db.sqlite'}")
        try:
            with mp.context() as patch:
                drive(db, folder / "store", sequence, patch)
        finally:
            db.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def runs(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@pytest.mark.timeout(600)
@runs(25)
@given(sequence=st.lists(steps, min_size=4, max_size=22))
def test_any_order_of_steps_with_kills_keeps_the_chain_and_the_money_right(
    templates: Templates, sequence: list[Step], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_on_sqlite(templates, sequence, monkeypatch)


@pytest.mark.slow
@pytest.mark.timeout(1500)
@runs(60)
@given(sequence=st.lists(steps, min_size=10, max_size=40))
def test_any_order_of_steps_with_kills_keeps_the_chain_and_the_money_right_at_length(
    templates: Templates, sequence: list[Step], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_on_sqlite(templates, sequence, monkeypatch)


@pytest.mark.postgres
@runs(4)
@given(sequence=st.lists(steps, min_size=6, max_size=18))
def test_any_order_of_steps_with_kills_keeps_the_chain_and_the_money_right_on_postgres(
    templates: Templates,
    postgres_server_url: str,
    sequence: list[Step],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="chain-pg-"))
    db = make_engine(fresh_postgres_database(postgres_server_url))
    try:
        upgrade(db)
        with unit_of_work(db) as session:
            for source in builtin_plan_sources():
                PlanRepository(session).record(source, at=datetime(2027, 6, 1, tzinfo=UTC))
        shutil.copytree(templates.store, folder / "store")
        with monkeypatch.context() as patch:
            drive(db, folder / "store", sequence, patch)
    finally:
        db.dispose()
        shutil.rmtree(folder, ignore_errors=True)
