"""Joining Ray: the cluster at RAY_ADDRESS when set, else one started on this machine (127.0.0.1 only)."""
from __future__ import annotations

import os

from harness.errors import MissingDependencyError
from fleet.stages import REPO


def import_ray():
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "pip install --no-deps -r requirements.txt (ray and its dependencies)",
                                     why="fleet runs cells as Ray tasks") from None
    return ray


def connect() -> str:
    """Connect the driver; returns how (the address joined, or 'local'). The tasks import the harness from this
    checkout's path, which every node must have (the same checkout, or a copy at the same path)."""
    ray = import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    runtime_env = {"env_vars": {"PYTHONPATH": f"{REPO}{os.pathsep}${{PYTHONPATH}}"}}  # the node's own path kept
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        return address
    # A Ray of this machine alone: without this Ray replaces 127.0.0.1 by the machine's routable address.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", 
             runtime_env=runtime_env, log_to_driver=False)
    return "local"


def alive_node_resources() -> list[dict]:
    ray = import_ray()
    return [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]


def fits(request: dict, totals: dict) -> bool:
    """Whether one node with these total resources could run a task with this request."""
    wanted = {"CPU": request.get("num_cpus", 0), "GPU": request.get("num_gpus", 0), **request.get("resources", {})}
    return all(totals.get(name, 0) >= amount for name, amount in wanted.items() if amount)


def describe(request: dict) -> str:
    wanted = {"CPU": request.get("num_cpus", 0), "GPU": request.get("num_gpus", 0), **request.get("resources", {})}
    return ", ".join(f"{name}: {amount}" for name, amount in wanted.items() if amount)
