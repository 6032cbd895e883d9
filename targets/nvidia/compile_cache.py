"""Inductor's caches kept beside a torch-engine artifact, so that a second process does not compile again.

torch.compile writes what it produced (FX graphs, generated kernels, Triton binaries, autotuning
results) under TORCHINDUCTOR_CACHE_DIR and TRITON_CACHE_DIR. The session points both at
`<artifact dir>/.compile-cache/<key>/`, the key made of the artifact's content hash, the torch version,
the GPU, the variant's settings and the source of the harness code that rewrites the graph before inductor sees
it: any change there uses a fresh directory, and stale ones are left to `make clean`. A cache that turns out
unusable is deleted and rebuilt, with one line saying so.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.files import sha256_file

CACHE_DIRNAME = ".compile-cache"
TURN_SUFFIX = ".turn"  # a lock file held while a process compiles into the cache: no content of it


def cache_key(artifact_sha256: str, torch_version: str, gpu: dict, settings: dict) -> str:
    identity = {"artifact": artifact_sha256, "torch": torch_version, "gpu": gpu.get("gpu_name"),
                "compute_capability": gpu.get("compute_capability"), "settings": settings}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def source_hash(paths: list[Path]) -> str:
    """One hash over the bytes of these source files: a harness whose graph rewrites changed gets a fresh cache
    instead of loading graphs that an older version compiled."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def artifact_hash(artifact: Path, recorded: str | None) -> str:
    """The content hash convert recorded for the artifact, or the file's own when none was."""
    return recorded or sha256_file(artifact)


@dataclass
class CompileCache:
    directory: Path
    state: str  # "warm": filled by an earlier process; "cold": empty before this one

    @classmethod
    def open(cls, artifact: Path, key: str) -> "CompileCache":
        # absolute: inductor compiles its C++ in other working directories (make passes WORK=work, relative)
        directory = Path(artifact).resolve().parent / CACHE_DIRNAME / key
        warm = directory.is_dir() and any(not p.name.endswith(TURN_SUFFIX) for p in directory.iterdir())
        cache = cls(directory, "warm" if warm else "cold")
        cache.activate()
        return cache

    def activate(self) -> None:
        """Point inductor and Triton here; read when compiling, so it must happen before the first compile."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(self.directory)
        os.environ["TRITON_CACHE_DIR"] = str(self.directory / "triton")

    def rebuild(self, reason: str) -> None:
        print(f"[WARN] compile cache {self.directory} unusable ({reason}); rebuilding it", file=sys.stderr)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.state = "rebuilt"
        self.activate()

    def info(self) -> dict:
        return {"dir": str(self.directory), "state": self.state}
