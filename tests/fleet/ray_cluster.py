"""A real multi-node Ray cluster on this machine for the fleet tests: a head and worker nodes, each a separate
`ray start --block` process on a loopback address with a private temp dir, stopped by their own process ids.

The NPU worker runs under the simulated Ascend toolchain, set up as the Makefile's ASCEND_SIM=1 does.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.targets.ascend.upstream import SIM, ais_bench_tree
from tests.conftest import ROOT

RAY = str(Path(sys.executable).parent / "ray")
# A loopback address for every node. Not 127.0.0.1: `ray start` replaces exactly that (and localhost) by the
# machine's routable address, and refuses a multi-node cluster when told to keep it.
LOOPBACK = "127.0.0.2"
OBJECT_STORE_BYTES = 100 * 1000 * 1000
# A lost node is noticed in about two seconds instead of Ray's default half a minute.
HEAD_ENV = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def ascend_sim_env(generation: str = "2025") -> dict:
    """What `make ... TARGET=ascend ASCEND_SIM=1` puts in the environment (SIM is the one place naming the sim)."""
    path = os.pathsep.join([str(SIM / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(p for p in (str(SIM), str(ais_bench_tree(generation)), os.environ.get("PYTHONPATH"))
                                 if p)
    return {"ASCEND_SIM_API": generation, "PATH": path, "PYTHONPATH": pythonpath, "ASCEND_TOOLKIT_HOME": str(SIM)}


def cluster_env(temp_dir: Path) -> dict:
    """Every process of the test cluster, and the drivers that join it: this cluster's own token."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN_PATH": str(temp_dir / "token"), **HEAD_ENV}
    env.pop("RAY_ADDRESS", None)
    return env


@dataclass
class Node:
    name: str
    process: subprocess.Popen

    def raylet_pid(self) -> int | None:
        for pid in _descendants(self.process.pid):
            if "raylet" in _cmdline(pid).split(" ")[0]:
                return pid
        return None


@dataclass
class LocalCluster:
    temp_dir: Path
    port: int
    nodes: list[Node] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start_head(self, cpus: int = 0) -> Node:
        return self._start("head", ["--head", "--port", str(self.port), "--include-dashboard=false"], cpus, {}, {})

    def start_worker(self, name: str, cpus: int, resources: dict | None = None, env: dict | None = None) -> Node:
        return self._start(name, ["--address", self.address], cpus, resources or {}, env or {})

    def _start(self, name: str, args: list[str], cpus: int, resources: dict, env: dict) -> Node:
        import json

        argv = [RAY, "start", "--block", *args, "--node-ip-address", LOOPBACK, "--num-cpus", str(cpus),
                "--num-gpus", "0", "--object-store-memory", str(OBJECT_STORE_BYTES), "--disable-usage-stats",
                "--temp-dir", str(self.temp_dir), "--dashboard-agent-listen-port", str(free_port()),
                "--dashboard-agent-grpc-port", str(free_port()), "--metrics-export-port", str(free_port()),
                "--runtime-env-agent-port", str(free_port())]
        if resources:
            argv += ["--resources", json.dumps(resources)]
        log = open(self.temp_dir / f"{name}.log", "w")
        process = subprocess.Popen(argv, cwd=ROOT, env={**cluster_env(self.temp_dir), **env}, stdout=log, stderr=subprocess.STDOUT)
        node = Node(name, process)
        self.nodes.append(node)
        self._wait_for_nodes(len(self.nodes))
        return node

    def _wait_for_nodes(self, count: int, timeout: float = 90.0) -> None:
        """Until `ray status`-like facts show `count` live nodes (asked through a short-lived driver)."""
        code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
                "print(sum(1 for n in ray.nodes() if n['Alive']))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process.poll() is not None:
                    log = (self.temp_dir / f"{node.name}.log").read_text()[-2000:]
                    raise RuntimeError(f"ray node {node.name} exited: {log}")
            try:
                proc = subprocess.run([sys.executable, "-c", code, self.address], env=cluster_env(self.temp_dir),
                                      capture_output=True, text=True, timeout=30)
            except subprocess.TimeoutExpired:
                continue
            if proc.returncode == 0 and proc.stdout.strip().splitlines()[-1:] == [str(count)]:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the cluster did not reach {count} live nodes in {timeout:g} s")

    def kill_raylet(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM each `ray start --block` we started (it stops its node's processes), then SIGKILL whatever is
        left that uses this cluster's private temp dir, and remove that dir."""
        for node in reversed(self.nodes):
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait(timeout=10)
        kill_processes_using(str(self.temp_dir))
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_cluster() -> LocalCluster:
    temp_dir = Path(tempfile.mkdtemp(prefix="rayf", dir="/tmp"))  # short: Ray's socket paths must stay short
    (temp_dir / "token").write_text(secrets.token_hex(32))
    return LocalCluster(temp_dir=temp_dir, port=free_port())


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found


def _descendants(pid: int) -> list[int]:
    result, todo = [], [pid]
    while todo:
        children = _children(todo.pop())
        result += children
        todo += children
    return result


def _uses(pid: int, text: str) -> bool:
    """Its command line names `text`, or it holds a file under it open (Ray's agents rename themselves, but
    keep their logs in the cluster's temp dir open)."""
    if text in _cmdline(pid):
        return True
    try:
        return any(text in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def kill_processes_using(text: str) -> list[int]:
    """SIGKILL each process (by its id) that uses `text`, a path only this test made."""
    killed = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _uses(int(entry), text):
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(int(entry))
            except ProcessLookupError:
                pass
    return killed
