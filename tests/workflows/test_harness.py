"""The real time-skipping test server runs workflows whose timers last program days."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.hello import HelloInput, HelloResult, HelloWorkflow

pytestmark = pytest.mark.temporal


@pytest.mark.timeout(120)
async def test_a_workflow_sleeping_30_program_days_finishes_at_once_on_skipped_time(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    queue = f"hello-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[HelloWorkflow],
        workflow_failure_exception_types=[Exception],
    ):
        result = await env.client.execute_workflow(
            HelloWorkflow.run,
            HelloInput(program_days=30, seconds_per_day=86_400),
            id=f"hello-{uuid.uuid4()}",
            task_queue=queue,
            result_type=HelloResult,
            execution_timeout=timedelta(days=60),
        )
    assert result.finished - result.started >= timedelta(days=30)
    assert result.finished - result.started < timedelta(days=31)
    assert result.finished_program_date > result.started_program_date


@pytest.mark.timeout(120)
async def test_a_compressed_clock_shortens_the_same_wait(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    queue = f"hello-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[HelloWorkflow]):
        result = await env.client.execute_workflow(
            HelloWorkflow.run,
            HelloInput(program_days=30, seconds_per_day=2),
            id=f"hello-{uuid.uuid4()}",
            task_queue=queue,
            result_type=HelloResult,
        )
    elapsed = result.finished - result.started
    assert timedelta(seconds=60) <= elapsed < timedelta(seconds=70)
