"""The simulated people's calls to Temporal ride out an outage of the server: each is made
again while the server is away, for up to ten minutes, before they give up on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError

T = TypeVar("T")

# How long a call is tried again before its error is let through.
PATIENCE_S = 600.0


async def patiently(
    call: Callable[[], Awaitable[T]],
    *,
    retry_on: tuple[type[Exception], ...] = (RPCError,),
    every_s: float = 1.0,
    for_s: float = PATIENCE_S,
) -> T:
    """The call's answer, asked again every `every_s` seconds while it fails with one of
    `retry_on` (the server is away, or the workflow has not started yet), for `for_s`."""
    deadline = time.monotonic() + for_s
    while True:
        try:
            return await call()
        except retry_on:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(every_s)
