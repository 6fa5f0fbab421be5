"""The Temporal client factory: one data converter everywhere (pydantic, so dates, decimals
and dataclasses round-trip), a clear error when the server cannot be reached."""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from infra.config import Settings
from mutualaid.errors import InputError

DATA_CONVERTER = pydantic_data_converter


async def connect(settings: Settings) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=DATA_CONVERTER,
        )
    except (RPCError, RuntimeError) as exc:
        raise InputError(
            "MUTUALAID_TEMPORAL_ADDRESS",
            settings.temporal_address,
            f"cannot reach Temporal ({_first_line(str(exc))}); is `mutualaid dev up` running?",
        ) from None


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
