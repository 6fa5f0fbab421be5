"""`/metrics` for Prometheus: the program's numbers from SQL and Temporal, and the SDK's own
metrics of the console's client, in one text exposition an operator's scraper can read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.clusterstack import free_ports
from infra.devstack import installed_binary
from infra.temporal import DATA_CONVERTER, metrics_runtime
from mutualaid.access import ConsoleRole
from mutualaid.claim import ClaimState
from tests.console.site import console_site
from tests.helpers import eventually
from tests.workflows.claim_support import World, register_search_attributes, wait_until

pytestmark = [pytest.mark.temporal, pytest.mark.timeout(120)]


async def test_metrics_count_claims_and_pass_on_the_sdk_metrics(
    claims_db: Engine, tmp_path: Path
) -> None:
    """On the real dev server: the time-skipping server counts no workflows."""
    server_port, port = free_ports(2)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=installed_binary("temporal"),
        ip="127.0.0.1",
        port=server_port,
        ui=False,
        data_converter=DATA_CONVERTER,
    )
    await register_search_attributes(env.client)
    world = World(env=env, engine=claims_db, store_root=str(tmp_path / "store"))
    client = await Client.connect(
        f"127.0.0.1:{server_port}",
        data_converter=DATA_CONVERTER,
        runtime=metrics_runtime(f"127.0.0.1:{port}"),
    )
    try:
        answer = await scrape(world, client, port, tmp_path)
    finally:
        await env.shutdown()

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    assert samples[("mutualaid_claims", (("plan", "chronic"), ("state", "InReview")))] >= 3
    assert samples[("mutualaid_temporal_up", ())] == 1
    assert samples[("mutualaid_open_workflows", (("type", "Claim"),))] >= 3
    # The SDK's own: the console's client made requests (the counts just above).
    assert any(name.startswith("temporal_request") for name, _ in samples)


async def scrape(world: World, client: Client, port: int, tmp_path: Path) -> httpx.Response:
    async with world.worker(), console_site(world, tmp_path, client=client) as site:
        site.ctx.sdk_metrics_url = f"http://127.0.0.1:{port}/metrics"
        handles = [await world.report(await world.member()) for _ in range(3)]
        for handle in handles:
            await wait_until(handle, lambda s: s.state is ClaimState.IN_REVIEW)
        web = site.http(ConsoleRole.OPERATOR)

        async def counted() -> httpx.Response:
            # Visibility lags the workflows a little: scrape until it counts them.
            answer = await web.get("/metrics")
            assert 'mutualaid_open_workflows{type="Claim"} 3.0' in answer.text
            return answer

        return await eventually(counted, what="the claims counted by /metrics")
