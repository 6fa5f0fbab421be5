"""The benchmark's DuckDB peer is an independent implementation of the same lock and debit in
SQL: at a small size it must reach the engine's totals to the fen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_the_engine_and_duckdb_reach_identical_totals(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "settlement.py"),
            "--members",
            "30000",
            "--shards",
            "3",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["identical_totals"] is True
    assert figures["members"] == 30000 and figures["roster"] > 28000
    assert figures["share_fen"] == 470
