"""The load test's process sampler counts each process once, under its own role, although
the load generator is the parent of the server and the workers it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from loadtest.metrics import ProcessSampler, owner_roles

BUSY = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"


def test_a_process_belongs_to_the_narrowest_role_whose_tree_holds_it() -> None:
    owners = owner_roles({"load generator": [1, 2, 3, 4], "server": [2], "workers": [3, 5]})
    assert owners == {
        1: "load generator",
        2: "server",
        3: "workers",
        4: "load generator",
        5: "workers",
    }


def test_a_busy_child_started_by_the_load_generator_shows_under_its_own_role() -> None:
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        with ProcessSampler(
            {"load generator": [os.getpid()], "server": [child.pid]}, every_s=0.5
        ) as sampler:
            time.sleep(3.2)
    finally:
        child.kill()
        child.wait()
    summary = sampler.summary()
    # The child spins one core; this process mostly sleeps.
    assert summary["server"]["cpu_peak_percent"] > 40, summary
    assert summary["load generator"]["cpu_mean_percent"] < 30, summary
