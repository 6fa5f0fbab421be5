"""Helpers for tests that run the real command line and servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the installed `mutualaid` command the way an operator would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(BIN / "mutualaid"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
