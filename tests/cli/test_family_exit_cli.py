"""A payer's voluntary exit on the command line: refused while attached members remain."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def test_a_payer_cannot_leave_before_the_family_members_it_pays_for(tmp_path: Path) -> None:
    env = {"MUTUALAID_STATE_DIR": str(tmp_path / "state")}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    standin = ("claims", "standin")
    for member, payer in ((16, None), (32, 16)):
        args = [*standin, "join", "--member", str(member), "--birth-date", "1980-01-01"]
        args += ["--joined", "2026-01-10"] + (["--payer", str(payer)] if payer else [])
        joined = run_cli(*args, env=env)
        assert joined.returncode == 0, joined.stderr
    refused = run_cli(*standin, "leave", "--member", "16", "--on", "2026-12-01", env=env)
    assert refused.returncode == 3, refused.stderr
    assert (
        refused.stderr.count("\n") == 1 and "attached member 32 is still covered" in refused.stderr
    )
    assert (
        run_cli(*standin, "leave", "--member", "32", "--on", "2026-12-01", env=env).returncode == 0
    )
    left = run_cli(*standin, "leave", "--member", "16", "--on", "2026-12-01", env=env)
    assert left.returncode == 0, left.stderr
