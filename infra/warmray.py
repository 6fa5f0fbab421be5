"""A warm local Ray for the embedded default: started once by `mutualaid dev up --warm-ray`,
joined by every command of the same state folder, stopped by `dev down`.

Without it each `mutualaid settle ...` starts Ray in its own process and stops it at the end:
about 2.5-3.5 s to start and 1.3 s to stop on the developers' machine, as much as a retry's
whole work at 10M members. Joining a running head takes about 0.05 s. (The period workflow's
worker is one long-lived process and pays the start once either way.)

The head has no dashboard, listens on loopback, and requires its own token (`ray start`
requires one by default, and a head without one would take any caller's code): `<state>/ray/
warm.json` holds its address and token, readable by this user only. A command joins only a head
that answers on its port, so a stale file after a reboot falls back to Ray in the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.clusterstack import RAY_OBJECT_STORE_BYTES, free_ports, ray_start, stop_processes
from infra.devstack import port_open

import psutil  # type: ignore[import-untyped]  # isort: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class WarmRayStatus:
    running: bool
    address: str | None
    cpus: int | None


class WarmRay:
    """The warm Ray head of one state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.root = (state_dir / "ray").resolve()

    @property
    def record(self) -> Path:
        return self.root / "warm.json"

    @property
    def temp_dir(self) -> str:
        # Ray's sockets live under its temp folder and a socket path may hold 107 bytes.
        tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        return f"/tmp/mutualaid-warm-ray-{tag}"

    def _saved(self) -> dict[str, str | int] | None:
        try:
            saved = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return None
        return saved if isinstance(saved, dict) else None

    def status(self) -> WarmRayStatus:
        saved = self._saved()
        if saved is None:
            return WarmRayStatus(running=False, address=None, cpus=None)
        address = str(saved["address"])
        host, _, port = address.rpartition(":")
        # The port alone proves nothing after a reboot: another program may hold it now.
        running = port_open(host, int(port)) and bool(self.processes())
        return WarmRayStatus(running=running, address=address, cpus=int(saved["cpus"]))

    def up(self) -> WarmRayStatus:
        """Start the head with every CPU of the machine, unless it runs already."""
        current = self.status()
        if current.running:
            return current
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.temp_dir, ignore_errors=True)  # sessions of a head that is gone
        port, client_port = free_ports(2)
        cpus = os.cpu_count() or 1
        token = secrets.token_hex(32)
        ray_start(
            [
                "--head",
                f"--port={port}",
                # Ray's client server listens on 10001 unless told: two heads would collide.
                f"--ray-client-server-port={client_port}",
                "--node-ip-address=127.0.0.1",
                f"--num-cpus={cpus}",
                "--include-dashboard=false",
                f"--object-store-memory={RAY_OBJECT_STORE_BYTES}",
                f"--temp-dir={self.temp_dir}",
                "--disable-usage-stats",
            ],
            {**os.environ, **_auth(token), "RAY_USAGE_STATS_ENABLED": "0"},
        )
        self.record.touch(mode=0o600)
        self.record.write_text(
            json.dumps({"address": f"127.0.0.1:{port}", "token": token, "cpus": cpus})
        )
        return self.status()

    def down(self) -> bool:
        """Stop the head and its workers; returns whether anything ran."""
        stopped = stop_processes(self.processes())
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.record.unlink(missing_ok=True)
        return stopped

    def processes(self) -> list[psutil.Process]:
        """The head's processes: each names its temp folder; workers are their children."""
        found: dict[int, psutil.Process] = {}
        for process in psutil.process_iter(["cmdline"]):
            if self.temp_dir in " ".join(process.info["cmdline"] or []):
                found[process.pid] = process
                try:
                    for child in process.children(recursive=True):
                        found[child.pid] = child
                except psutil.Error:
                    pass
        return list(found.values())

    def join(self) -> str | None:
        """The head's address when it runs, with its token put in this process's environment
        (where `ray.init` reads it); None when there is no warm head to join."""
        saved = self._saved()
        if saved is None or not self.status().running:
            return None
        token = str(saved["token"])
        if "ray" in sys.modules and os.environ.get("RAY_AUTH_TOKEN") != token:
            # Ray read its authentication mode when it was imported, without this token: the
            # process starts its own Ray instead (`workers.entry` joins before the import).
            return None
        os.environ.update(_auth(token))
        return str(saved["address"])


def _auth(token: str) -> dict[str, str]:
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
