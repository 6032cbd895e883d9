"""Where Huawei's real ais_bench front end lies (../shared/upstream), one tree per API generation.

Only `aclruntime`, `atc` and `npu-smi` are simulated (targets/ascend/sim); the `ais_bench` package the tests
import is the real one. Without ../shared the tests that need it skip, saying so.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM = ROOT.parent / "shared" / "upstream" / "ais_bench"
GENERATIONS = {"2023": "2023-03", "2025": "2025-12"}
SIM = ROOT / "targets" / "ascend" / "sim"


def ais_bench_tree(generation: str) -> Path:
    return UPSTREAM / GENERATIONS[generation]


def missing_reason(generation: str = "2025") -> str | None:
    tree = ais_bench_tree(generation)
    if (tree / "ais_bench" / "infer" / "interface.py").is_file():
        return None
    return f"{tree} is absent: the real ais_bench front end lives in ../shared/upstream beside the checkout"
