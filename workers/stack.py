"""Wiring shared by the commands: settings, the prepared database, the embedded dev server."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from infra.config import Settings
from infra.db import make_engine, unit_of_work, upgrade
from infra.devstack import DevStack
from infra.plans import PlanSource, load_plan_sources
from infra.repositories import PlanRepository


def dev_stack(settings: Settings) -> DevStack:
    host, port = settings.temporal_host_port
    return DevStack(
        state_dir=settings.state_dir,
        host=host,
        port=port,
        ui_port=settings.temporal_ui_port,
        namespace=settings.temporal_namespace,
    )


def plan_sources(settings: Settings) -> dict[str, PlanSource]:
    return load_plan_sources(settings.plan_files)


def prepare_database(settings: Settings) -> Engine:
    """Connect, migrate to the latest schema and record every plan's rules version."""
    sources = plan_sources(settings)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        plans = PlanRepository(session)
        for source in sources.values():
            plans.record(source, at=datetime.now(UTC))
    return engine
