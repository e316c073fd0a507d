"""The Dagster processes `quant main` runs against, started on demand and stopped after.

One code server loads the code location once; the webserver answers Dagster's GraphQL API
(`dagster_graphql.DagsterGraphQLClient.submit_job_execution`, the public way to submit a
run); the daemon takes runs off the instance's queue (dagster.yaml `run_queue`) and
launches them. All three read the same DAGSTER_HOME, so the UI started later shows
everything they did. Nothing starts until the first run is submitted: a `quant main`
with nothing to do starts no process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from quant_assets.settings import Settings

LOCATION = "quant_assets"
STARTUP_TIMEOUT = 300.0
# close() is called once every run is final and its worker has exited, so nothing is lost
# by killing a service that has not stopped by then: seen once under a loaded test run,
# the code server blocked in its own shutdown call to the gRPC server it had started.
STOP_TIMEOUT = 10.0
GRPC_TIMEOUT_SECONDS = 300
# On an interrupt the code server waits for in-flight gRPC calls up to this grace period;
# Dagster's default is the gRPC timeout above (300 s), longer than close() waits.
GRPC_SHUTDOWN_GRACE_SECONDS = 5
# GraphQL errors that mean "the code location is still loading", not a bad request
NOT_LOADED_YET = {"JobNotFoundError", "RepositoryLocationNotFound", "RepositoryNotFoundError"}


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the process group `proc` leads (started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of group `pgid`, from /proc (Linux; [] elsewhere)."""
    members = []
    proc_dir = Path("/proc")
    for entry in proc_dir.iterdir() if proc_dir.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """Wait until no live process of group `pgid` is left (a killed one takes a moment)."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class DagsterServices:
    """Code server + webserver + daemon for one `quant main`; `close()` stops them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._procs: list[subprocess.Popen] = []
        self._client = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _start(self) -> None:
        home = Path(os.environ["DAGSTER_HOME"])
        logs = home / "quant-main-logs"
        logs.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="quant-main-")
        grpc_port, web_port = free_port(), free_port()
        workspace = Path(self._tmp.name) / "workspace.yaml"
        workspace.write_text(
            "load_from:\n  - grpc_server:\n"
            f"      host: 127.0.0.1\n      port: {grpc_port}\n      location_name: {LOCATION}\n"
        )
        commands = {
            "code-server": [_bin("dagster"), "code-server", "start", "-h", "127.0.0.1",
                            "-p", str(grpc_port), "-m", "quant_assets.definitions", "-a", "defs",
                            "--location-name", LOCATION],
            "webserver": [_bin("dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1",
                          "-p", str(web_port)],
            "daemon": [_bin("dagster-daemon"), "run", "-w", str(workspace)],
        }  # fmt: skip
        env = {**os.environ}
        # a loaded machine can take longer than Dagster's 60 s default to answer a gRPC call
        env.setdefault("DAGSTER_GRPC_TIMEOUT_SECONDS", str(GRPC_TIMEOUT_SECONDS))
        env.setdefault("DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD", str(GRPC_SHUTDOWN_GRACE_SECONDS))
        for name, cmd in commands.items():
            if name == "daemon":
                # The daemon loads the code location when it starts: started before the code
                # server listens (it does once its code is loaded), it records the location
                # as unreachable, and a run it dequeues before Dagster's watcher recovers
                # the location fails ("Could not reach user code server"; seen in CI).
                self._wait_until(lambda: _accepts(grpc_port), f"the code server on {grpc_port}")
            log = open(logs / f"quant-main-{name}.log", "ab")  # noqa: SIM115 (closed with the process)
            self._procs.append(
                subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd(), env=env,
                    start_new_session=True,  # its own process group: close() stops its children
                )
            )  # fmt: skip
        url = f"http://127.0.0.1:{web_port}/server_info"
        self._wait_until(lambda: _answers(url), f"the Dagster webserver at {url}")
        from dagster_graphql import DagsterGraphQLClient

        self._client = DagsterGraphQLClient("127.0.0.1", port_number=web_port, timeout=120)

    def _wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll `ready` until it holds, failing fast if a service exits."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            self._check_alive()
            if ready():
                return
            time.sleep(0.25)
        raise TimeoutError(f"{what} did not answer within {STARTUP_TIMEOUT:.0f} s")

    def _check_alive(self) -> None:
        for proc in self._procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{Path(proc.args[0]).name} exited with {proc.returncode}; see "
                    f"{os.environ['DAGSTER_HOME']}/quant-main-logs/"
                )

    def submit(self, job: str, tags: dict[str, str]) -> str:
        """Queue a run of `job` with `tags` (partition tags included); returns its run id."""
        from dagster_graphql import DagsterGraphQLClientError

        if self._client is None:
            self._start()
        assert self._client is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:  # the webserver answers before the code server has loaded the location
            try:
                return self._client.submit_job_execution(
                    job, repository_location_name=LOCATION, tags=tags
                )
            except DagsterGraphQLClientError as exc:
                self._check_alive()
                loading = exc.args and exc.args[0] in NOT_LOADED_YET
                if not loading or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def close(self) -> None:
        """Stop the three processes and their children. SIGINT, not SIGTERM: the code
        server shuts down (with the gRPC server it started) on an interrupt, while a
        SIGTERM left it running until close() killed it 30 s later, its child orphaned."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                _signal_group(proc, signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                print(
                    f"quant: {Path(proc.args[0]).name} did not stop within {STOP_TIMEOUT:.0f} s "
                    "of an interrupt; killed",
                    file=sys.stderr,
                )
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
            _signal_group(proc, signal.SIGKILL)  # a child left behind by its parent
            _wait_group_gone(proc.pid, 5.0)
        self._procs.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
