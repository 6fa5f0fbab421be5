"""Serving the console: its context (SQL, plans, clock, a Temporal client whose SDK metrics
it re-serves) and a uvicorn server for it, for `mutualaid web` and the demo."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import uvicorn
from sqlalchemy import Engine
from temporalio.client import Client

from console.app import ConsoleContext, create_app
from infra.clusterstack import free_ports
from infra.config import Settings
from infra.temporal import connect, metrics_runtime
from workers.stack import plan_sources, recorded_clock


def console_context(
    settings: Settings,
    engine: Engine,
    *,
    client: Callable[[], Awaitable[Client]] | None = None,
) -> ConsoleContext:
    """The console's context; its own Temporal client (unless given one) serves the SDK's
    metrics on a free loopback port, which `/metrics` passes on."""
    sdk_metrics_url = None
    if client is None:
        port = free_ports(1)[0]
        runtime = metrics_runtime(f"127.0.0.1:{port}")
        sdk_metrics_url = f"http://127.0.0.1:{port}/metrics"

        async def own_client() -> Client:
            return await connect(settings, runtime=runtime)

        client = own_client
    return ConsoleContext(
        settings=settings,
        engine=engine,
        plans={plan_id: source.plan for plan_id, source in plan_sources(settings).items()},
        clock=recorded_clock(engine),
        connect=client,
        sdk_metrics_url=sdk_metrics_url,
    )


def console_server(
    ctx: ConsoleContext, *, host: str, port: int, quiet: bool = False
) -> uvicorn.Server:
    """A uvicorn server for the console (not started). Its access log names paths only:
    tokens travel in a cookie or a header, personal data in no URL."""
    config = uvicorn.Config(
        create_app(ctx),
        host=host,
        port=port,
        log_level="warning" if quiet else "info",
        # The console logs each request by its route (`mutualaid.console.access`), never by
        # its path: a claim's id names its claimant.
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    if quiet:
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        console_log = logging.getLogger("mutualaid.console")
        console_log.addHandler(handler)
        console_log.setLevel(logging.INFO)
    return server


def console_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}"
