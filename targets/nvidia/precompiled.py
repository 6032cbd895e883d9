"""Inductor's output per batch size, saved in the compile cache so that a later process neither traces nor compiles.

torch.compile traces the program with dynamo in every process, and even with inductor's caches warm that
took 10 s of a 26 s start on the H200 (docs/nvidia.md). Here the prepared module (rewrites applied, in its
dtype and layout, on the device) is exported at one batch size and compiled with
`torch._inductor.standalone_compile`, its weights lifted to graph inputs; the result is saved as one file per
batch size, and the prepared weights once. A later process loads those two and calls: no torch.export.load,
no dynamo, no inductor. Weights are inputs, not constants folded into the kernels, so the variant folds
BatchNorms itself (fx_passes.fold_conv_bn) instead of through inductor's freezing.

Two forms of the same compiled program (option saved_graph):
- "inductor": `standalone_compile`'s artifact. Loading it imports inductor and dynamo and runs inductor's cache
  lookup in Python: 1.4-2.1 s of a warm start on the H200 (docs/nvidia.md).
- "aoti" (the target's default): an AOTInductor package (`aoti_compile_and_package`), its weights left out of it
  (`aot_inductor.package_constants_in_so=False`) and handed over from the saved weights on load. torch's C++
  loader (`torch._C._aoti.AOTIModelPackageLoader`) opens it and runs the graph: nothing of inductor is imported.
  On the H200 its compile took up to twice as long (2-4 times before `package_settings` skipped the CPU's
  instruction-set checks), and its replay within 1 % of the time. The package is linked against
  torch's shared C++ runtime (cxx_runtime.py: one of its own crashed every load there), then loaded and checked
  against the module in the process that compiled it (the compile child) before any session relies on it; a
  refused package leaves the cache to the "inductor" form.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from harness.files import atomic_output, writer_gone
from harness.locks import turn
from harness.startup import mark
from targets.nvidia import cxx_runtime, source_keys
from targets.nvidia.compile_cache import TURN_SUFFIX
from targets.nvidia.device import is_out_of_memory

WEIGHTS = "weights.pt"
INPUT_NAMES = "weights.json"
LIFTED_KINDS = ("PARAMETER", "BUFFER", "CONSTANT_TENSOR")
DROPPED_OPTIONS = ("freezing",)  # folds constants; with weights as inputs (or handed over on load) there are none
INDUCTOR, AOTI = "inductor", "aoti"
SAVED_FORMS = (INDUCTOR, AOTI)
DEFAULT_SAVED_GRAPH = AOTI  # the target option's; a TorchRunner made directly (tests, CPU benches) keeps INDUCTOR
AOTI_REFUSED = "aoti.refused"  # beside the graphs: why this cache keeps the "inductor" form instead
MIN_AGREEMENT = 0.999  # cosine between a new package's output and the module's, below which it is refused
CHECK_ROWS = 8  # the rows a package is checked on when the module cannot run its whole batch


def package_settings(torch: Any, options: dict, device: Any) -> dict:
    """Inductor's settings for a package of `options`: its weights left out, linked as cxx_runtime says, and for a
    GPU graph no probe of the CPU's instruction sets, unless the options or $TORCHINDUCTOR_VEC_ISA_OK name
    `cpp.vec_isa_ok`."""
    settings = {**options, "aot_inductor.package_constants_in_so": False}
    if device.type == "cuda" and torch._inductor.config.cpp.vec_isa_ok is None:
        # A GPU graph's package holds host code (the wrapper; CPU kernels only for ops left on the CPU, which then
        # run unvectorised), which vector instructions do not speed up. Probing them builds a test library per
        # instruction set and loads each in a fresh Python (one that imports torch in 2.11, the H200 host's): 36 s
        # of every compile child there (docs/nvidia.md, sixteenth run). Inductor keeps the answer for the rest of
        # the process, so a process that compiles in-process (tests) keeps it for its CPU graphs too.
        settings.setdefault("cpp.vec_isa_ok", False)
    settings.update(cxx_runtime.link_settings(torch, settings))
    return settings


def standalone_available(torch: Any) -> bool:
    inductor = getattr(torch, "_inductor", None)
    return hasattr(inductor, "standalone_compile") and hasattr(inductor, "CompiledArtifact")


def aoti_loader_available(torch: Any) -> bool:
    """torch's C++ package loader, looked up without importing inductor (which a warm start must not)."""
    return hasattr(getattr(torch._C, "_aoti", None), "AOTIModelPackageLoader")


def form_available(torch: Any, form: str) -> bool:
    return aoti_loader_available(torch) if form == AOTI else standalone_available(torch)


def graph_file(directory: Path, batch: int, form: str = INDUCTOR, device: Any = None) -> Path:
    """One package serves every GPU of the cache's kind (the loader is told which); inductor's form names the device
    it was compiled on in its Python wrapper, so a GPU other than the first has files of its own."""
    if form == AOTI:
        return directory / f"bs{batch}.aoti.pt2"
    index = device.index if device is not None and device.type == "cuda" else None
    return directory / (f"bs{batch}.cuda{index}.inductor.bin" if index else f"bs{batch}.inductor.bin")


def turn_file(directory: Path, graph: Path) -> Path:
    """The lock a process holds while its child compiles `graph` into the cache `directory` (which does not count
    it as content: compile_cache.TURN_SUFFIX)."""
    return directory / f".{graph.name}{TURN_SUFFIX}"


def earlier_refusal(directory: Path) -> tuple[str, bool]:
    """Why an earlier process refused this cache's AOTInductor packages ("" when none did), and whether that still
    holds: while the C++ compiler is the one they were refused under and the cache was reached by the same
    absolute path. A record without that path comes from before caches were reached by absolute paths, when a
    relative one (make's WORK=work) made inductor's C++ compile fail: it no longer holds, and the package is
    tried once more."""
    try:
        record = json.loads((Path(directory) / AOTI_REFUSED).read_text())
        reason, made_with, made_in = record.get("reason", "refused"), record.get("compiler"), record.get("cache_dir")
    except (OSError, ValueError, AttributeError):
        return "", False
    same_place = made_in == str(Path(directory).resolve())
    return reason, same_place and (made_with is None or made_with == cxx_runtime.compiler_identity())


def refuse_aoti(directory: Path, reason: str) -> None:
    """Write the refusal down, with the compiler it holds for, and remove what a compile that crashed left
    half-written (not what another process, say the other GPU's worker, is still writing)."""
    directory = Path(directory)
    for leftover in directory.glob(".bs*.aoti.pt2.*.tmp.pt2"):
        if writer_gone(leftover):
            leftover.unlink(missing_ok=True)
    record = {"reason": reason, "compiler": cxx_runtime.compiler_identity(), "cache_dir": str(directory.resolve())}
    with atomic_output(directory / AOTI_REFUSED) as tmp:
        tmp.write_text(json.dumps(record) + "\n")


def forget_refusal(directory: Path) -> None:
    (Path(directory) / AOTI_REFUSED).unlink(missing_ok=True)


class UnusablePrecompiled(Exception):
    """What a cache holds cannot be loaded or does not fit this program: rebuild it."""


class PackageRefused(UnusablePrecompiled):
    """An AOTInductor package could not be compiled here, or ran but disagreed with the module: keep to inductor's
    form (a cache rebuilt would only make the same package again)."""


class RefusedMeanwhile(UnusablePrecompiled):
    """Another process refused this cache's packages while this one waited for its compile of the batch size."""


class PackageRunFailed(RuntimeError):
    """A loaded package raised while running. Its C++ layer gives every error one type and no cause, running out of
    device memory included, so this session runs inductor's form instead and leaves the verdict to it."""


class PrecompiledGraphs:
    """One compiled callable per batch size, each taking the static input; loaded from `directory` or made there."""

    def __init__(self, torch: Any, directory: Path, device: Any, options: dict,
                 prepared_module: Callable[[], Any], compile_elsewhere: Callable[[int], None] | None = None,
                 form: str = INDUCTOR) -> None:
        self._torch = torch
        self.form = form
        self._directory = Path(directory)
        self._device = device
        self._options = {k: v for k, v in options.items() if k not in DROPPED_OPTIONS}
        self._prepared_module = prepared_module
        self._compile_elsewhere = compile_elsewhere  # fills the directory for one batch size from another process
        self._names: list[str] | None = None
        self._weights: list[Any] | None = None
        self.notes: dict = {}  # what preparing the module did (BatchNorms folded), kept for the processes that load
        self.sources: dict[int, str] = {}  # batch -> "loaded" | "compiled" | "compiled by a child process" | ...
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
        path = graph_file(self._directory, batch, self.form, self._device)
        started = time.perf_counter()
        how = "loaded"
        if not path.is_file() and self._compile_elsewhere is not None:
            how = self._compile_in_turn(batch, path, self._compile_elsewhere)
        if path.is_file():
            if self._weights is None:
                self.load_weights()
            call = self._load(path)
        else:
            call, how = self._compile(path, example), "compiled"
        self.sources[batch] = how
        mark(f"bs{batch} graph {how}")
        self.seconds[str(batch)] = round(time.perf_counter() - started, 2)
        return call

    def _compile_in_turn(self, batch: int, path: Path, compile_elsewhere: Callable[[int], None]) -> str:
        """Have the child compile `batch`, unless another process (the other GPU's worker, a second run of the
        artifact) is compiling it for this cache now: then wait for that one and load what it saved."""
        def waiting(holder: str) -> None:
            print(f"[INFO] {self._directory}: {holder} is compiling bs{batch} ({self.form}) for this compile cache; "
                  "waiting for it", file=sys.stderr)

        with turn(turn_file(self._directory, path), waiting):
            if path.is_file():
                return "compiled by another process"
            reason, holds = earlier_refusal(self._directory) if self.form == AOTI else ("", False)
            if reason and holds:
                raise RefusedMeanwhile(reason)
            compile_elsewhere(batch)
        return "compiled by a child process"

    def _load(self, path: Path) -> Callable[[Any], Any]:
        if self.form == AOTI:
            return self._load_package(path)
        inductor = self._torch._inductor
        source_keys.wait()  # loading asks for both keys first
        try:
            # Loading its Triton kernels from the cache would otherwise start inductor's pool of compile workers
            # (a process per core, on a GPU host) that this process never uses and waits for at exit.
            with inductor.config.patch(compile_threads=1):
                compiled = inductor.CompiledArtifact.load(path=str(path), format="binary")
        except Exception as exc:  # written by another torch or cut short: rebuild
            raise UnusablePrecompiled(f"{path.name}: {type(exc).__name__}") from None
        weights = self._weights
        return lambda x: compiled(*weights, x)

    def _load_package(self, path: Path) -> Callable[[Any], Any]:
        """The package's graph, run by torch's C++ loader on this device, with the saved weights handed over
        (the loader keeps pointers to them, so every batch size shares one copy)."""
        device = (self._device.index or 0) if self._device.type == "cuda" else -1
        try:
            # one runner, used by one thread at a time: no locking in its run (which CUDA graph capture needs)
            loader = self._torch._C._aoti.AOTIModelPackageLoader(str(path), "model", True, 1, device)
            wanted = set(loader.get_constant_fqns())
        except Exception as exc:  # cut short, or written by another torch
            raise UnusablePrecompiled(f"{path.name}: {type(exc).__name__}: {first_line(exc)}") from None
        weights = dict(zip(self._names or [], self._weights or []))
        missing = sorted(wanted - set(weights))
        if missing:
            raise UnusablePrecompiled(f"{path.name} needs weights the saved ones lack ({', '.join(missing[:3])})")
        try:
            loader.load_constants({name: weights[name] for name in wanted}, False, True, True)
        except Exception as exc:
            raise UnusablePrecompiled(f"{path.name}: {type(exc).__name__}: {first_line(exc)}") from None

        def run(x: Any) -> Any:
            try:
                return loader.run([x])
            except RuntimeError as exc:
                raise PackageRunFailed(f"{path.name}: {first_line(exc)}") from exc
        return run

    def _compile(self, path: Path, example: Any) -> Callable[[Any], Any]:
        torch = self._torch
        module = self._prepared_module()
        program = torch.export.export(module, (example,))
        names, weights = lifted_inputs(program)
        if self._weights is None:
            self._save_weights(names, weights)
        elif names != self._names:
            raise UnusablePrecompiled("the saved weights do not match the program's inputs")
        source_keys.wait()  # a hash still running would be made again by the compile
        if self.form == AOTI:
            return self._compile_package(path, program, module, example)
        # standalone_compile passes `options` on to compile_fx as arguments; inductor's settings go in config_patches
        options = {"config_patches": self._options} if self._options else None
        compiled = torch._inductor.standalone_compile(program.graph_module, [*self._weights, example],
                                                      dynamic_shapes="from_example_inputs", options=options)
        with atomic_output(path, suffix=".bin") as tmp:
            compiled.save(path=str(tmp), format="binary")
        weights = self._weights
        return lambda x: compiled(*weights, x)

    def _compile_package(self, path: Path, program: Any, module: Any, example: Any) -> Callable[[Any], Any]:
        """Compile the package beside `path`, load it here and check its output against the module's before it
        takes the name a later session looks for."""
        torch = self._torch
        expected, rows, too_big = self._reference(module, example)
        settings = package_settings(torch, self._options, self._device)
        with atomic_output(path, suffix=".pt2") as tmp:
            try:
                torch._inductor.aoti_compile_and_package(program, package_path=str(tmp), inductor_configs=settings)
                refusal = cxx_runtime.own_runtime_copy(torch, tmp)
                if refusal:
                    raise PackageRefused(refusal)  # loading it would kill this process
                call = self._load_package(tmp)
                got = self._package_output(call, example, too_big)
                agreement = cosine(torch, got[:rows], expected)
            except (OSError, PackageRefused):  # a full disk (atomic_output says so), or refused with its reason
                raise
            except Exception as exc:
                if is_out_of_memory(torch, exc):
                    raise  # the session's own handling: no refusal for a batch too big
                raise PackageRefused(f"{type(exc).__name__}: {telling_line(exc)}") from exc
            if not agreement >= MIN_AGREEMENT:  # also NaN
                raise PackageRefused(f"the AOTInductor package's output differs from the module's (cosine "
                                     f"{agreement:.4f})")
        return call

    def _package_output(self, call: Callable[[Any], Any], example: Any, too_big: str) -> Any:
        try:
            return first_output(call(example))
        except Exception:
            if not too_big:
                raise
        # neither the module nor its package had the memory: the batch is too big (raised here, not in the handler,
        # whose exception would keep the package's frames alive)
        raise self._torch.cuda.OutOfMemoryError(too_big)

    def _reference(self, module: Any, example: Any) -> tuple[Any, int, str]:
        """The module's output to check a new package against: for the whole batch, or, when that is too big for
        the device (the module's rewrites keep more alive than the compiled graph does), for the fewest first rows
        the program takes (from CHECK_ROWS up, halving the batch), with the out-of-memory message kept for a
        package that cannot run the batch either. A program of that batch size alone is reported too big."""
        batch = int(example.shape[0])
        try:
            return first_output(module(example)), batch, ""
        except Exception as exc:
            if not is_out_of_memory(self._torch, exc):
                raise
            too_big = str(exc)  # not the exception: its frames hold the activations
        if self._device.type == "cuda":
            self._torch.cuda.empty_cache()
        for rows in sorted({CHECK_ROWS, batch // 8, batch // 4, batch // 2} - {0}):
            if rows >= batch:
                break
            try:
                return first_output(module(example[:rows])), rows, too_big
            except Exception as exc:  # below the program's smallest batch size, or out of memory again
                if is_out_of_memory(self._torch, exc):
                    break
        raise self._torch.cuda.OutOfMemoryError(too_big)

    def _save_weights(self, names: list[str], weights: list[Any]) -> None:
        self._names, self._weights = names, [w.detach() for w in weights]
        with atomic_output(self._directory / WEIGHTS, suffix=".pt") as tmp:
            self._torch.save(self._weights, tmp)
        with atomic_output(self._directory / INPUT_NAMES) as tmp:
            tmp.write_text(json.dumps({"names": names, "notes": self.notes}) + "\n")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else ""


def telling_line(exc: BaseException) -> str:
    """A compile error's first line says only that the compiler failed; the compiler's or linker's own line says
    why (a library it cannot find, say)."""
    lines = str(exc).strip().splitlines()
    cause = next((line.strip() for line in lines[1:] if "cannot find" in line or " error: " in line), "")
    return f"{first_line(exc)}: {cause}"[:160] if cause else first_line(exc)


def first_output(produced: Any) -> Any:
    return produced[0] if isinstance(produced, (tuple, list)) else produced


def cosine(torch: Any, got: Any, expected: Any) -> float:
    got, expected = got.detach().double().flatten(), expected.detach().double().flatten()
    return float(torch.nn.functional.cosine_similarity(got, expected, dim=0))


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
