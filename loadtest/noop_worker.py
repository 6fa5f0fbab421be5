"""A worker for the no-op workflow, the load test's ceiling:

    python -m loadtest.noop_worker --task-queue Q

Connects to MUTUALAID_TEMPORAL_ADDRESS (namespace MUTUALAID_TEMPORAL_NAMESPACE) as every
program client does, says "worker ready" once polling, and stops on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from temporalio.worker import Worker

from infra.config import load_settings
from infra.temporal import connect
from loadtest.noop import NoopWorkflow, noop_activity


async def serve(task_queue: str, workflow_tasks: int) -> None:
    settings = load_settings()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[NoopWorkflow],
        activities=[noop_activity],
        max_concurrent_workflow_tasks=workflow_tasks,
    ):
        print(f"worker ready: task queue {task_queue}", flush=True)
        await stop.wait()
    print("worker stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.noop_worker")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--workflow-tasks", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(serve(args.task_queue, args.workflow_tasks))
    sys.stdout.flush()
    # The SDK's runtime threads can abort the interpreter at exit (a known SDK issue).
    os._exit(0)


if __name__ == "__main__":
    main()
