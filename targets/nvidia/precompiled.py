"""Inductor's output per batch size, saved in the compile cache so that a later process neither traces nor compiles.

torch.compile traces the program with dynamo in every process, and even with inductor's caches warm that
took 10 s of a 26 s start on the H200 (docs/nvidia.md). Here the prepared module (rewrites applied, in its
dtype and layout, on the device) is exported at one batch size and compiled with
`torch._inductor.standalone_compile`, its weights lifted to graph inputs; the result is saved as one file per
batch size, and the prepared weights once. A later process loads those two and calls: no torch.export.load,
no dynamo, no inductor. Weights are inputs, not constants folded into the kernels, so the variant folds
BatchNorms itself (fx_passes.fold_conv_bn) instead of through inductor's freezing.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from harness.files import atomic_output
from harness.startup import mark

WEIGHTS = "weights.pt"
INPUT_NAMES = "weights.json"
LIFTED_KINDS = ("PARAMETER", "BUFFER", "CONSTANT_TENSOR")
DROPPED_OPTIONS = ("freezing",)  # folds constants; with weights as inputs there are none


def standalone_available(torch: Any) -> bool:
    inductor = getattr(torch, "_inductor", None)
    return hasattr(inductor, "standalone_compile") and hasattr(inductor, "CompiledArtifact")


def graph_file(directory: Path, batch: int) -> Path:
    return directory / f"bs{batch}.inductor.bin"


class UnusablePrecompiled(Exception):
    """What a cache holds cannot be loaded or does not fit this program: rebuild it."""


class PrecompiledGraphs:
    """One compiled callable per batch size, each taking the static input; loaded from `directory` or made there."""

    def __init__(self, torch: Any, directory: Path, device: Any, options: dict,
                 prepared_module: Callable[[], Any], compile_elsewhere: Callable[[int], None] | None = None) -> None:
        self._torch = torch
        self._directory = Path(directory)
        self._device = device
        self._options = {k: v for k, v in options.items() if k not in DROPPED_OPTIONS}
        self._prepared_module = prepared_module
        self._compile_elsewhere = compile_elsewhere  # fills the directory for one batch size from another process
        self._names: list[str] | None = None
        self._weights: list[Any] | None = None
        self.notes: dict = {}  # what preparing the module did (BatchNorms folded), kept for the processes that load
        self.sources: dict[int, str] = {}  # batch -> "loaded" | "compiled" | "compiled by a child process"
        self.seconds: dict[str, float] = {}  # "weights" and each batch: what loading or compiling took

    def has_weights(self) -> bool:
        return (self._directory / WEIGHTS).is_file() and (self._directory / INPUT_NAMES).is_file()

    def load_weights(self) -> None:
        """The prepared weights an earlier process saved, onto this device."""
        started = time.perf_counter()
        try:
            saved = json.loads((self._directory / INPUT_NAMES).read_text())
            names, notes = saved["names"], saved.get("notes", {})
            weights = self._torch.load(self._directory / WEIGHTS, map_location=self._device, weights_only=True)
        except Exception as exc:  # a truncated or foreign file raises one of several types
            raise UnusablePrecompiled(f"{WEIGHTS}: {type(exc).__name__}") from None
        if not isinstance(weights, list) or len(weights) != len(names):
            raise UnusablePrecompiled(f"{WEIGHTS} holds {type(weights).__name__}, not {len(names)} tensors")
        self._names, self._weights, self.notes = names, weights, notes
        self.seconds["weights"] = round(time.perf_counter() - started, 2)
        mark("weights loaded")

    def callable_for(self, batch: int, example: Any) -> Callable[[Any], Any]:
        path = graph_file(self._directory, batch)
        started = time.perf_counter()
        how = "loaded"
        if not path.is_file() and self._compile_elsewhere is not None:
            self._compile_elsewhere(batch)
            how = "compiled by a child process"
        if path.is_file():
            if self._weights is None:
                self.load_weights()
            compiled = self._load(path)
        else:
            compiled, how = self._compile(path, example), "compiled"
        self.sources[batch] = how
        mark(f"bs{batch} graph {how}")
        self.seconds[str(batch)] = round(time.perf_counter() - started, 2)
        weights = self._weights
        return lambda x: compiled(*weights, x)

    def _load(self, path: Path) -> Any:
        inductor = self._torch._inductor
        try:
            # Loading its Triton kernels from the cache would otherwise start inductor's pool of compile workers
            # (a process per core, on a GPU host) that this process never uses and waits for at exit.
            with inductor.config.patch(compile_threads=1):
                return inductor.CompiledArtifact.load(path=str(path), format="binary")
        except Exception as exc:  # written by another torch or cut short: rebuild
            raise UnusablePrecompiled(f"{path.name}: {type(exc).__name__}") from None

    def _compile(self, path: Path, example: Any) -> Any:
        torch = self._torch
        program = torch.export.export(self._prepared_module(), (example,))
        names, weights = lifted_inputs(program)
        if self._weights is None:
            self._save_weights(names, weights)
        elif names != self._names:
            raise UnusablePrecompiled("the saved weights do not match the program's inputs")
        # standalone_compile passes `options` on to compile_fx as arguments; inductor's settings go in config_patches
        options = {"config_patches": self._options} if self._options else None
        compiled = torch._inductor.standalone_compile(program.graph_module, [*self._weights, example],
                                                      dynamic_shapes="from_example_inputs", options=options)
        with atomic_output(path, suffix=".bin") as tmp:
            compiled.save(path=str(tmp), format="binary")
        return compiled

    def _save_weights(self, names: list[str], weights: list[Any]) -> None:
        self._names, self._weights = names, [w.detach() for w in weights]
        with atomic_output(self._directory / WEIGHTS, suffix=".pt") as tmp:
            self._torch.save(self._weights, tmp)
        with atomic_output(self._directory / INPUT_NAMES) as tmp:
            tmp.write_text(json.dumps({"names": names, "notes": self.notes}) + "\n")


def lifted_inputs(program: Any) -> tuple[list[str], list[Any]]:
    """The graph's inputs before the user's, in order: names and tensors (parameters, buffers, constants)."""
    state = {**program.state_dict, **program.constants}
    specs = program.graph_signature.input_specs
    if [s.kind.name for s in specs].count("USER_INPUT") != 1 or specs[-1].kind.name != "USER_INPUT":
        raise UnusablePrecompiled("the program does not take one input after its weights")
    names, tensors = [], []
    for spec in specs[:-1]:
        kind = spec.kind.name
        if kind not in LIFTED_KINDS or spec.target not in state:
            raise UnusablePrecompiled(f"the program has a {kind.lower()} input it cannot save")
        names.append(spec.target)
        tensors.append(state[spec.target])
    return names, tensors
