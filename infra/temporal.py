"""The Temporal client factory: one data converter everywhere (pydantic, so dates, decimals
and dataclasses round-trip), a clear error when the server cannot be reached."""

from __future__ import annotations

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
