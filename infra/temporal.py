"""The Temporal client factory: one data converter everywhere (pydantic, so dates, decimals
and dataclasses round-trip), a clear error when the server cannot be reached.

Commands connect once and fail in one line when the server is away; long-running processes
(the worker, the demo) connect `patiently`: they wait for the server, with backoff, and their
calls are retried through an outage of minutes instead of failing after ten seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RetryConfig, RPCError

from infra.config import Settings
from mutualaid.errors import InputError

DATA_CONVERTER = pydantic_data_converter
log = logging.getLogger("mutualaid.temporal")

# A long-running process's calls ride out an outage of the server of up to five minutes.
PATIENT_RETRY = RetryConfig(
    initial_interval_millis=200,
    multiplier=1.6,
    max_interval_millis=10_000,
    max_elapsed_time_millis=300_000,
    max_retries=1_000,
)
# Between two attempts to connect (a server that is down, or restarting).
RECONNECT_INITIAL_S = 0.5
RECONNECT_MAX_S = 15.0


async def connect(
    settings: Settings, *, patient: bool = False, runtime: Runtime | None = None
) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=DATA_CONVERTER,
            retry_config=PATIENT_RETRY if patient else None,
            runtime=runtime,
        )
    except (RPCError, RuntimeError) as exc:
        raise InputError(
            "MUTUALAID_TEMPORAL_ADDRESS",
            settings.temporal_address,
            f"cannot reach Temporal ({_first_line(str(exc))}); is `mutualaid dev up` running?",
        ) from None


async def connect_patiently(settings: Settings, stop: asyncio.Event | None = None) -> Client | None:
    """Connect, waiting for the server with backoff for as long as it takes (None: `stop` was
    set first). The client's calls are then retried through outages (`PATIENT_RETRY`)."""
    delay = RECONNECT_INITIAL_S
    said = False
    while stop is None or not stop.is_set():
        try:
            return await connect(settings, patient=True)
        except InputError as exc:
            if not said:
                log.warning("%s; trying again until it answers", exc)
                said = True
        if stop is None:
            await asyncio.sleep(delay)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, RECONNECT_MAX_S)
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no answer"


async def register_search_attributes(
    client: Client, namespace: str, wanted_types: Mapping[str, int]
) -> list[str]:
    """Register the missing custom search attributes on a namespace (a cluster's, say).
    Returns the names added; one that exists with another type is an error, not a change."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    existing = dict(listed.custom_attributes)
    wanted = {name: IndexedValueType.ValueType(kind) for name, kind in wanted_types.items()}
    for name, kind in wanted.items():
        if name in existing and existing[name] != kind:
            raise InputError(
                "search_attribute",
                name,
                f"exists as {IndexedValueType.Name(existing[name])}, "
                f"not {IndexedValueType.Name(kind)}",
            )
    missing = {name: kind for name, kind in wanted.items() if name not in existing}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


def metrics_runtime(bind_address: str) -> Runtime:
    """A runtime whose clients serve the SDK's own metrics for Prometheus at an address."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind_address)))
