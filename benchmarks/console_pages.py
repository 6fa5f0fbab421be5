"""Console page times with 100,000 open claims (SQLite, and PostgreSQL from pgserver).

    .venv/bin/python benchmarks/console_pages.py --claims 100000 --repeat 20

Fills a database under `benchmarks/.work/console/` with claims as the load test's people
report them (`simulation.applicants`: members drawn from a population of 10 million,
hospitals, diagnoses) in the open states the load test's default scenario leaves them in
(weighted by how long each step takes there), each with its SQL history (reported,
materials complete, the step that moved it, an SLA note for the overdue), plus 24 closed
periods and the latest period's public list. Then it starts `mutualaid web` as an operator
would (its own process, uvicorn) and times each page over HTTP from this process: `--repeat`
requests per page after two to warm up, interleaved page by page; min, median and p95 in
milliseconds, and the console's start (process start to the first answer of /healthz).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, insert, text

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work" / "console"
BIN = Path(sys.executable).parent

# Open states and how long the default scenario's claims sit in each (program days): the
# review (2), the investigation (14, re-investigation after an objection too), the decision
# (1), the jury (1), the wait for the next publicity day (7 on average), the objection window
# (3) and the wait for funds and payout (7).
OPEN_STATES = {
    "InReview": 2.0,
    "Investigating": 14.0,
    "Reinvestigating": 0.5,
    "AwaitingDecision": 1.0,
    "JuryVoting": 1.0,
    "AwaitingPublicity": 7.0,
    "Publicised": 3.0,
    "AwaitingFunds": 7.0,
}
SLA_STATES = {"InReview", "Investigating", "Reinvestigating", "AwaitingDecision"}
OVERDUE_SHARE = 0.1
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def fill(engine: Engine, claims: int, seed: int) -> None:
    from infra.db import unit_of_work, upgrade
    from infra.models import ClaimEventRow, ClaimRow, PeriodRow, PublicityEntryRow
    from infra.plans import builtin_plan_sources
    from infra.repositories import PlanRepository
    from infra.states import PeriodStage, PublicityOutcome
    from mutualaid.calendar import publicity_days_between, sharing_day_for
    from mutualaid.masking import mask_hospital, mask_id_number
    from simulation.applicants import Applicants

    upgrade(engine)
    sources = {s.plan.id: s for s in builtin_plan_sources()}
    with unit_of_work(engine) as session:
        for source in sources.values():
            PlanRepository(session).record(source, at=NOW)
    plan = sources["chronic"].plan
    rng = random.Random(seed)
    people = Applicants(plan=plan, members=10_000_000)
    states, weights = list(OPEN_STATES), list(OPEN_STATES.values())
    days = publicity_days_between(date(2026, 1, 7), date(2026, 11, 21))[-24:]
    with engine.begin() as db:
        db.execute(
            insert(PeriodRow),
            [
                {
                    "plan_id": "chronic",
                    "publicity_date": day,
                    "sharing_date": sharing_day_for(day),
                    "rules_version": plan.rules_version,
                    "state": PeriodStage.CLOSED,
                    "members": 10_000_000 - 1000 * n,
                    "aid_fen": 300_000_00 * (20 + n % 7),
                    "fee_fen": 24_000_00 * (20 + n % 7),
                    "surplus_in_fen": 0,
                    "share_fen": 320 + 37 * (n % 7),
                    "collected_fen": (320 + 37 * (n % 7)) * (9_990_000 - 1000 * n),
                    "unpaid_fen": (320 + 37 * (n % 7)) * 10_000,
                    "subsidy_fen": 0,
                    "surplus_out_fen": 1000 * n,
                    "report": {"cases": 20 + n % 7, "balanced": True},
                    "opened_at": NOW,
                    "closed_at": NOW,
                }
                for n, day in enumerate(days)
            ],
        )
        latest = db.execute(
            text("SELECT id FROM periods WHERE publicity_date = :d"), {"d": days[-1]}
        ).scalar_one()
        batch_claims: list[dict[str, object]] = []
        batch_events: list[dict[str, object]] = []
        seen: set[tuple[int, date]] = set()
        for n in range(claims):
            drawn = people.draw(rng, today=NOW.date())
            while (drawn.member_id, drawn.diagnosis_date) in seen:
                # Unchecked draws may repeat a member's diagnosis: one claim each, as SQL keeps.
                drawn = people.draw(rng, today=NOW.date())
            seen.add((drawn.member_id, drawn.diagnosis_date))
            state = rng.choices(states, weights)[0]
            reported = NOW - timedelta(days=rng.uniform(1, 40))
            since = reported + (NOW - reported) * rng.random()
            overdue = state in SLA_STATES and rng.random() < OVERDUE_SHARE / 0.5
            claim_id = f"lt-{n:07d}"
            batch_claims.append(
                {
                    "id": claim_id,
                    "plan_id": "chronic",
                    "rules_version": plan.rules_version,
                    "member_id": drawn.member_id,
                    "condition": drawn.condition,
                    "diagnosis_date": drawn.diagnosis_date,
                    "hospital": drawn.hospital,
                    "state": state,
                    "benefit_fen": 300_000_00,
                    "period_id": latest if state in ("Publicised", "AwaitingFunds") else None,
                    "reported_at": reported,
                    "updated_at": since,
                    "state_since": since,
                    "overdue": overdue,
                }
            )
            events = [
                ("reported", "Reported", reported),
                ("materials_complete", "InReview", reported + timedelta(minutes=5)),
                ("moved", state, since),
            ]
            if overdue:
                events.append(("overdue", state, since + timedelta(days=1)))
            for seq, (kind, moved_to, at) in enumerate(events, 1):
                batch_events.append(
                    {
                        "claim_id": claim_id,
                        "seq": seq,
                        "event_key": f"{seq:04d}-{kind}",
                        "kind": kind,
                        "state": moved_to,
                        "actor": "loadtest",
                        "at": at,
                        "detail": {},
                    }
                )
            if len(batch_claims) == 10_000:
                db.execute(insert(ClaimRow), batch_claims)
                db.execute(insert(ClaimEventRow), batch_events)
                batch_claims, batch_events = [], []
        if batch_claims:
            db.execute(insert(ClaimRow), batch_claims)
            db.execute(insert(ClaimEventRow), batch_events)
        listed = db.execute(
            text("SELECT id, member_id, hospital FROM claims WHERE period_id = :p LIMIT 40"),
            {"p": latest},
        ).all()
        db.execute(
            insert(PublicityEntryRow),
            [
                {
                    "period_id": latest,
                    "claim_id": claim_id,
                    "masked_member": mask_id_number(f"{member:08d}"),
                    "age": 45,
                    "condition": "malignant tumour",
                    "hospital": mask_hospital(hospital),
                    "benefit_fen": 300_000_00,
                    "provisional_share_fen": 351,
                    "outcome": PublicityOutcome.PUBLICISED,
                    "published_at": NOW,
                }
                for claim_id, member, hospital in listed
            ],
        )


def operator_token(engine: Engine) -> str:
    from infra.db import unit_of_work
    from infra.repositories import ConsoleUserRepository
    from mutualaid.access import ConsoleRole

    with unit_of_work(engine) as session:
        return ConsoleUserRepository(session).add(
            f"bench-{time.time_ns()}"[:60], ConsoleRole.OPERATOR, at=NOW
        )


def pages(claim_id: str) -> dict[str, str]:
    return {
        "pipeline (page 1)": "/claims",
        "pipeline page 1000": "/claims?page=1000",
        "overdue in review": "/claims?state=InReview&overdue=true",
        "one period's claims": "/claims?period=period-chronic-2026-11-21",
        "pipeline JSON": "/api/claims",
        "claim": f"/claims/{claim_id}",
        "periods + chart": "/periods",
        "period": "/periods/chronic/2026-11-21",
        "publicity (public)": "/publicity",
        "metrics": "/metrics",
    }


def measure(url: str, token: str, repeat: int, claims: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as web:
        targets = pages(f"lt-{claims // 2:07d}")
        for path in targets.values():
            for _ in range(2):
                assert web.get(path).status_code == 200, path
        for _ in range(repeat):
            for name, path in targets.items():
                started = time.perf_counter()
                answer = web.get(path)
                times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (path, answer.text[:200])
    return times


def serve(database_url: str, state: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")} | {
        "MUTUALAID_STATE_DIR": str(state),
        "MUTUALAID_DATABASE_URL": database_url,
        "MUTUALAID_CONSOLE_PORT": str(port),
        # No Temporal here: /metrics reports it down after a short wait.
        "MUTUALAID_TEMPORAL_ADDRESS": "127.0.0.1:1",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "mutualaid"), "web"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.05)
        if process.poll() is not None:
            raise SystemExit("the console did not start")


def report(backend: str, start_s: float, times: dict[str, list[float]]) -> None:
    print(f"\n{backend}: console start (process to first /healthz answer) {start_s:.2f} s")
    print(f"{'page':<24}{'min ms':>9}{'median ms':>11}{'p95 ms':>9}")
    for name, values in times.items():
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(f"{name:<24}{ordered[0]:>9.1f}{statistics.median(ordered):>11.1f}{p95:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT.parent))
    from infra.db import make_engine, normalise_url

    for backend in args.backends.split(","):
        state = WORK / backend
        state.mkdir(parents=True, exist_ok=True)
        server = None
        if backend == "sqlite":
            url = f"sqlite:///{state / 'console.db'}"
            (state / "console.db").unlink(missing_ok=True)
        else:
            import pgserver

            server = pgserver.get_server(state / "pgdata", cleanup_mode="stop")
            admin = create_engine(server.get_uri(), isolation_level="AUTOCOMMIT")
            with admin.connect() as db:
                db.execute(text("DROP DATABASE IF EXISTS console_bench"))
                db.execute(text("CREATE DATABASE console_bench"))
            admin.dispose()
            base, _, query = server.get_uri().partition("?")
            url = normalise_url(f"{base.rsplit('/', 1)[0]}/console_bench?{query}")
        engine = make_engine(url)
        filled = time.perf_counter()
        fill(engine, args.claims, args.seed)
        took = time.perf_counter() - filled
        print(f"{backend}: {args.claims:,} open claims written in {took:.1f} s")
        token = operator_token(engine)
        engine.dispose()
        port = 18300 + len(backend)
        process, start_s = serve(url, state, port)
        try:
            times = measure(f"http://127.0.0.1:{port}", token, args.repeat, args.claims)
        finally:
            process.terminate()
            process.wait(timeout=30)
            if server is not None:
                server.cleanup()
        report(backend, start_s, times)


if __name__ == "__main__":
    main()
