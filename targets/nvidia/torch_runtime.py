"""Run side of the torch engine: load the exported program, apply the variant, launch on the current stream."""
from __future__ import annotations

import sys
import time
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from harness.errors import DeviceOutOfMemory, DiskFullError, TargetError
from harness.startup import mark
from harness.vocabulary import InputForm, Precision
from targets.nvidia import source_keys
from targets.nvidia.compile_cache import CompileCache, artifact_hash, cache_key, source_hash
from targets.nvidia.conv_plans import (convolutions_file, load_convolutions, record_convolutions, save_convolutions,
                                       warm_convolutions)
from targets.nvidia.device import gpu_identity, import_torch, is_out_of_memory
from targets.nvidia.device_thread import DeviceThread
from targets.nvidia.fx_passes import (conv1x1_relu_as_gemm, depthwise_as_taps, fold_conv_bn, fuse_conv_add_relu,
                                      fuse_conv_relu, pooled_conv_as_reduction, register_fused_conv_shapes)
from targets.nvidia.options import effective_precision
from targets.nvidia.pipeline import DeviceRunner, host_random
from targets.nvidia.precompile_child import ChildCompileFailed, compile_in_child
from targets.nvidia.precompiled import (AOTI, INDUCTOR, PackageRefused, PackageRunFailed, PrecompiledGraphs,
                                        RefusedMeanwhile, UnusablePrecompiled, aoti_loader_available, earlier_refusal,
                                        first_line, forget_refusal, form_available, graph_file, refuse_aoti)
from targets.nvidia.variants import FALLBACK_VARIANT, TorchVariant, resolve_variant


def load_program_module(artifact: Path):
    """The exported program as a GraphModule on the CPU, in float32."""
    torch = import_torch()
    try:
        program = torch.export.load(str(artifact))
    except Exception as exc:  # a truncated or foreign file: any of several exception types
        raise TargetError(f"{artifact}: torch.export.load failed ({str(exc).splitlines()[0][:160]}); "
                          "rerun convert") from None
    return program.module()


def graph_code_files() -> list[Path]:
    """The harness's code that shapes the graph inductor compiles: the rewrites, this module (which applies them
    and casts the module) and the saved-graph path (which exports and compiles it)."""
    here = Path(__file__)
    return [here.with_name("fx_passes.py"), here, here.with_name("precompiled.py")]


def apply_rewrites(module, variant: TorchVariant, on_cuda: bool) -> dict:
    """Graph rewrites of the variant, done in float32 before any cast; returns how many of each."""
    done = {}
    if variant.fold_bn:
        done["bn_folded"] = fold_conv_bn(module)
    if variant.gemm_epilogue and on_cuda:
        done["conv1x1_relu_as_gemm"] = conv1x1_relu_as_gemm(module)
    if variant.depthwise_taps and on_cuda:
        done["depthwise_as_taps"] = depthwise_as_taps(module)
    if variant.pooled_conv_max_batch and on_cuda:
        # the count alone would claim reductions for a graph compiled for a larger batch, which has GEMMs there
        done["pooled_conv_as_reduction"] = {
            "convolutions": pooled_conv_as_reduction(module, variant.pooled_conv_max_batch),
            "at_batch_sizes_up_to": variant.pooled_conv_max_batch}
    # last, so that the rewrites above see every convolution they could take
    if (variant.fuse_conv_add_relu or variant.fuse_conv_relu) and on_cuda:
        register_fused_conv_shapes()  # for torch.export and inductor, which trace the fused calls
    if variant.fuse_conv_add_relu and on_cuda:
        done["conv_add_relu_fused"] = fuse_conv_add_relu(module)
    if variant.fuse_conv_relu and on_cuda:
        done["conv_relu_fused"] = fuse_conv_relu(module)
    return done


@contextmanager
def out_of_memory_as_error(torch: Any, device: Any, batch: int) -> Iterator[None]:
    """torch's CUDA out-of-memory as the harness's DeviceOutOfMemory, with the free memory it leaves."""
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(torch, exc):
            raise
        free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DeviceOutOfMemory(batch, None, free, f"torch: {whole_sentences(first, 200)}") from None


def whole_sentences(text: str, limit: int) -> str:
    """The sentences of `text` that fit in `limit` characters (torch's messages run on for a paragraph)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[:cut + 1] if cut > 0 else text[:limit]


def compile_path_info(precompiled: PrecompiledGraphs | None, note: str, aoti_note: str = "",
                      retired: tuple[PrecompiledGraphs, ...] = ()) -> dict:
    """How inductor's kernels came to be: saved and loaded per batch size (as standalone_compile's artifact or
    as an AOTInductor package), or traced by torch.compile; and why a package was refused, if one was. A batch size
    prepared from a package before this session left that form keeps its line, saying so: its captured graph still
    runs the package's kernels."""
    refused = {"aoti_refused": aoti_note} if aoti_note else {}
    earlier = {str(b): f"{how} (AOTInductor package)" for graphs in retired for b, how in graphs.sources.items()}
    if precompiled is None:
        return {"path": "torch.compile", **({"note": note} if note else {}), **refused,
                **({"batches": earlier} if earlier else {})}
    return {"path": "aoti" if precompiled.form == AOTI else "standalone",
            "batches": {**earlier, **{str(b): how for b, how in precompiled.sources.items()}},
            "seconds": dict(precompiled.seconds), **refused}


class BackendFlags:
    """cuDNN/TF32 switches are process-wide: set them for the session, put them back on close."""

    def __init__(self, torch: Any, wanted: dict) -> None:
        self._torch = torch
        self._saved = {name: self._get(name) for name in wanted}
        for name, value in wanted.items():
            self._set(name, value)

    def _get(self, name: str) -> bool:
        group, attr = name.rsplit(".", 1)
        return getattr(self._owner(group), attr)

    def _set(self, name: str, value: bool) -> None:
        group, attr = name.rsplit(".", 1)
        setattr(self._owner(group), attr, value)

    def _owner(self, group: str) -> Any:
        return self._torch.backends.cudnn if group == "cudnn" else self._torch.backends.cuda.matmul

    def restore(self) -> None:
        for name, value in self._saved.items():
            self._set(name, value)


def backend_settings(variant: TorchVariant, tf32: bool, cudnn_benchmark: bool | None = None) -> dict:
    """The process-wide switches a session sets: cuDNN autotuning as the variant says (or as asked), TF32
    unless strict."""
    benchmark = variant.cudnn_benchmark if cudnn_benchmark is None else cudnn_benchmark
    return {"cudnn.benchmark": benchmark, "cudnn.allow_tf32": tf32, "cuda.matmul.allow_tf32": tf32}


class TorchRunner(DeviceRunner):
    def __init__(self, artifact: Path, device: Any, precision: str, variant: TorchVariant,
                 sample_shape: tuple[int, ...], input_dtype: str = "float32",
                 artifact_sha256: str | None = None, tf32: bool = True, precompile: bool = True,
                 compile_in_child: bool = True, fallback: bool = True, cudnn_benchmark: bool | None = None,
                 batch_hint: int | None = None, warm_aside: bool = False, cuda_graphs: bool = True,
                 saved_graph: str = INDUCTOR, hash_aside: bool = True) -> None:
        torch = import_torch()
        self._torch = torch
        # uint8 pixels (HWC) go in as they are: the program's first op normalises them (convert/input_form.py)
        self._pixels = input_dtype == "uint8"
        self._artifact = Path(artifact)
        self._device = device
        self._sample_shape = tuple(sample_shape)
        self._precision = precision
        self._tf32 = tf32
        self._dtype = torch.float16 if precision == Precision.FP16 else torch.float32
        self._first_call_s: dict[int, float] = {}
        self._fallback_note = ""
        self._flags = None
        self._artifact_sha256 = artifact_sha256
        self._cache: CompileCache | None = None
        self._precompile = precompile
        self._compile_in_child = compile_in_child  # see precompile_child.py for why
        self._allow_fallback = fallback  # off in the child: a failure there is the parent's to handle
        self._input_dtype = input_dtype
        self._cudnn_benchmark = cudnn_benchmark
        self._precompile_note = ""
        self._saved_graph = saved_graph  # the form of the saved graphs (precompiled.py); "inductor" once refused
        self._hash_aside = hash_aside  # see source_keys.py
        self._hashed_aside: list[str] = []  # the keys this session started hashing aside
        self._aoti_note = ""  # why an AOTInductor package was refused here or by an earlier process
        self._aoti_reason = ""  # the refusal as written beside the cache (kept there across a rebuild)
        self._retired: list[PrecompiledGraphs] = []  # packages this session left: captured graphs still run them
        self._rewrites: dict = {}
        self._warm_aside = warm_aside  # see device_thread.py
        self._cuda_graphs = cuda_graphs  # without them every batch launches from the main thread: nothing aside
        self._batch_hint = batch_hint  # the batch size the run will likely take: its plans are warmed at once
        self._aside: DeviceThread | None = None
        self._warming: dict[int, Future] = {}  # batch -> the pending warm-up of its convolutions
        self._warmed: dict[str, dict] = {}  # batch -> convolutions warmed aside and the seconds, or why not
        try:
            self._use(variant)
        except BaseException:
            self.close()
            raise

    def _use(self, variant: TorchVariant) -> None:
        """Load the program and prepare it as `variant` says (also used to fall back after a failed compile)."""
        torch = self._torch
        started = time.perf_counter()
        self._variant = variant
        self._layout = torch.channels_last if variant.channels_last and len(self._sample_shape) == 3 else None
        if self._flags is not None:
            self._flags.restore()
        settings = backend_settings(variant, self._tf32, self._cudnn_benchmark)
        self._cudnn_benchmark_used = settings["cudnn.benchmark"]
        self._flags = BackendFlags(torch, settings)
        if variant.inductor is not None and self._cache is None:
            self._cache = self._open_cache(variant)
            self._read_aoti_refusal()
            if self._batch_hint:
                self._start_warming(self._batch_hint)
        self._precompiled, self._calls, self._module = None, {}, None
        saved = variant.inductor is not None and self._precompile
        hash_aside = saved and self._hash_aside and self._saved_graph == INDUCTOR
        if hash_aside and self._device.type == "cuda" and source_keys.hash_triton_aside():
            self._hashed_aside.append("triton")  # hashed while the check below imports inductor
        if saved and form_available(torch, self._saved_graph):
            if hash_aside and source_keys.hash_torch_aside():
                self._hashed_aside.append("torch")  # hashed while the weights load
            self._precompiled = self._open_precompiled(variant)
        else:
            module = self._prepared_module()
            self._module = self._compiled(module) if variant.inductor is not None else module
        self._load_s = round(time.perf_counter() - started, 2)
        self.warmup_runs = 3 if variant.inductor is not None else 2

    def _prepared_module(self):
        """The program on the device in the session's dtype and layout, with the variant's rewrites."""
        module = load_program_module(self._artifact)
        self._rewrites = apply_rewrites(module, self._variant, on_cuda=self._device.type == "cuda")
        module.to(device=self._device, dtype=self._dtype)
        if self._layout is not None:
            module.to(memory_format=self._layout)
        return module

    def _read_aoti_refusal(self) -> None:
        """An earlier process's refusal of packages for this cache (the compile child has its form decided)."""
        if (self._saved_graph == AOTI and not aoti_loader_available(self._torch) and self._allow_fallback
                and self._precompile):
            self._aoti_note = "this torch has no AOTInductor package loader: inductor's form instead"
            self._saved_graph = INDUCTOR
        if self._saved_graph == AOTI and self._cache is not None and self._allow_fallback and self._precompile:
            earlier, holds = earlier_refusal(self._cache.directory)
            if earlier and holds:
                self._aoti_reason, self._aoti_note = earlier, f"refused by an earlier process: {earlier}"
                self._saved_graph = INDUCTOR
            elif earlier:
                print(f"[INFO] AOTInductor packages are tried again in {self._cache.directory}: the C++ compiler, or "
                      f"the path the cache was reached by, is not the one they were refused under ({earlier})",
                      file=sys.stderr)
                forget_refusal(self._cache.directory)

    def _leave_aoti(self, note: str, refusal: str = "") -> None:
        """Run inductor's saved graphs from now on; with `refusal`, also in later processes (written down, one
        line). What this session prepared from packages stays loaded: its captured graphs run their kernels."""
        self._aoti_note = note
        self._saved_graph = INDUCTOR
        if self._precompiled is not None and self._precompiled.sources:
            self._retired.append(self._precompiled)
        if refusal and self._cache is not None:
            self._aoti_reason = refusal
            print(f"[WARN] AOTInductor package refused ({refusal}); {self._cache.directory} keeps inductor's saved "
                  "graphs instead (saved_graph=inductor)", file=sys.stderr)
            refuse_aoti(self._cache.directory, refusal)

    def _rebuild_cache(self, reason: str) -> None:
        self._cache.rebuild(reason)
        if self._aoti_reason:  # a rebuilt cache would only make the refused package again
            refuse_aoti(self._cache.directory, self._aoti_reason)

    def _open_precompiled(self, variant: TorchVariant) -> PrecompiledGraphs:
        """Saved weights and graphs when an earlier process left them; the program is then never loaded."""
        def prepared():
            module = self._prepared_module()
            graphs.notes = dict(self._rewrites)
            return module

        def open_graphs() -> PrecompiledGraphs:
            return PrecompiledGraphs(self._torch, self._cache.directory, self._device, dict(variant.inductor),
                                     prepared, child, self._saved_graph)

        child = self._compile_in_child_process if self._compile_in_child else None
        graphs = open_graphs()
        if graphs.has_weights():
            try:
                graphs.load_weights()
                self._rewrites = dict(graphs.notes)
            except UnusablePrecompiled as exc:
                self._rebuild_cache(str(exc))
                graphs = open_graphs()
        return graphs

    def _start_warming(self, batch: int) -> None:
        """Have the device thread run the convolutions an earlier process recorded for `batch`, while this
        thread goes on loading: only with a saved graph for it (else the first call compiles anyway). When the
        option is on and nothing is warmed, info() says why."""
        if not self._warm_aside or batch in self._warming:
            return
        entries = load_convolutions(convolutions_file(self._cache.directory, batch)) if self._cache else []
        why_not = self._why_not_aside(batch, entries)
        if why_not:
            self._warmed[str(batch)] = {"skipped": why_not}
            return
        if self._aside is None:
            self._aside = DeviceThread(self._torch, self._device)

        def warm() -> None:
            started = time.perf_counter()
            try:
                done = warm_convolutions(self._torch, self._device, entries)
            except Exception as exc:  # the first call builds what was not warmed; say why
                self._warmed[str(batch)] = {"error": f"{type(exc).__name__}: {str(exc)[:160]}", "of": len(entries)}
                return
            self._warmed[str(batch)] = {"convolutions": done, "of": len(entries),
                                        "seconds": round(time.perf_counter() - started, 2)}
            mark(f"bs{batch} convolutions warmed aside")
        self._warming[batch] = self._aside.submit(warm)

    def _why_not_aside(self, batch: int, entries: list[dict]) -> str:
        if not self._cuda_graphs:
            return "cuda_graphs=0: every batch launches from the main thread, so its own plans are the ones used"
        if self._cudnn_benchmark_used:
            return "cudnn_benchmark=1: timing the algorithms beside other work would skew cuDNN's choice"
        if not self._precompile or self._cache is None or not form_available(self._torch, self._saved_graph):
            return "no saved graphs (precompile=0, or a torch without standalone_compile)"
        if self._saved_graph == AOTI:
            return "saved_graph=aoti: the package calls cuDNN from C++, where no convolution is recorded to warm"
        if not graph_file(self._cache.directory, batch, INDUCTOR, self._device).is_file():
            return "no saved graph for this batch size yet: this process compiles it"
        if not entries:
            return ("no recorded convolutions beside the saved graph (a cache from before they were recorded, or an "
                    "unreadable list): delete the artifact's .compile-cache to record them")
        return ""

    def prepare_aside(self, batch: int) -> DeviceThread | None:
        """The thread that warmed (or is warming) this batch's convolutions, after loading its graph here; None
        when nothing was warmed (then the session prepares on its own thread, as without this)."""
        self._start_warming(batch)
        if (batch not in self._warming or self._precompiled is None or self._cache is None
                or not graph_file(self._cache.directory, batch, self._saved_graph, self._device).is_file()):
            self._settle_warming()
            return None
        if batch not in self._calls:
            try:
                self._calls[batch] = self._precompiled.callable_for(batch, None)
            except DeviceOutOfMemory:
                self._settle_warming()
                raise
            except Exception:  # unusable, or rebuilt meanwhile by another process: the first call, here as
                self._settle_warming()  # without the option, loads it again or falls back, and says so
                return None
            self._rewrites = self._rewrites or dict(self._precompiled.notes)
        return self._aside

    def _settle_warming(self) -> None:
        """Wait for warm-ups still running, so that none runs beside a first call made on this thread."""
        for pending in self._warming.values():
            pending.exception()

    def save_convolutions(self, batch: int, static_input) -> int:
        """Record the convolutions one call of the saved graph makes, beside it, for later processes."""
        if self._precompiled is None or self._cache is None or self._saved_graph == AOTI:
            return 0
        entries = record_convolutions(self._torch, lambda: self._call(static_input))
        save_convolutions(convolutions_file(self._cache.directory, batch), entries)
        return len(entries)

    def _open_cache(self, variant: TorchVariant) -> CompileCache:
        gpu = gpu_identity(self._device.index) if self._device.type == "cuda" else {}
        key = cache_key(artifact_hash(self._artifact, self._artifact_sha256), self._torch.__version__, gpu,
                        {"variant": variant.settings(), "precision": self._precision, "tf32": self._tf32,
                         "graph_code": source_hash(graph_code_files())})
        return CompileCache.open(self._artifact, key)

    def _compile_in_child_process(self, batch: int) -> None:
        """Called while this process holds the batch size's turn (precompiled.py): a refusal is written down before
        the turn passes to a process waiting for it, which then reads it instead of compiling the package again."""
        try:
            compile_in_child({"artifact": str(self._artifact), "device": str(self._device),
                              "precision": self._precision, "variant": self._variant.name,
                              "sample_shape": list(self._sample_shape), "input_dtype": self._input_dtype,
                              "artifact_sha256": self._artifact_sha256, "tf32": self._tf32, "batch": batch,
                              "saved_graph": self._saved_graph, "hash_aside": self._hash_aside})
        except (PackageRefused, ChildCompileFailed) as exc:
            refused = isinstance(exc, PackageRefused) or exc.crashed  # as _call decides
            if refused and self._saved_graph == AOTI and self._cache is not None:
                refuse_aoti(self._cache.directory, f"{type(exc).__name__}: {first_line(exc)}")
            raise

    def _compiled(self, module):
        source_keys.wait()  # torch.compile asks for both keys too
        return self._torch.compile(module, backend="inductor", dynamic=False, options=dict(self._variant.inductor))

    def _call(self, static_input):
        """The module's output; a compile that fails (no Triton, an unsupported op) falls back once."""
        try:
            with self._torch.no_grad():
                return self._launch(static_input)
        except Exception as exc:  # inductor raises BackendCompilerFailed and others
            if (self._variant.inductor is None or self._fallback_note or not self._allow_fallback
                    or isinstance(exc, (DeviceOutOfMemory, DiskFullError)) or is_out_of_memory(self._torch, exc)
                    or self._capturing()):  # the capture fails, and the session's plain call comes back here
                raise
            first = first_line(exc)
            if self._precompiled is not None and self._saved_graph == AOTI:
                if isinstance(exc, RefusedMeanwhile):  # by the process this one waited for, written down there
                    self._leave_aoti(f"refused by an earlier process: {exc}")
                    self._aoti_reason = str(exc)
                    self._use(self._variant)
                    return self._call(static_input)
                if isinstance(exc, PackageRunFailed):  # perhaps the device's memory: inductor's form says which
                    self._leave_aoti(f"the package failed while running ({first}); this session ran inductor's "
                                     "saved graph")
                    self._use(self._variant)
                    return self._call(static_input)
                crashed = isinstance(exc, ChildCompileFailed) and exc.crashed
                if isinstance(exc, PackageRefused) or crashed:  # not made, disagreed, or its process died of a
                    # fault: a package that crashes on load (one failing otherwise, as inductor's form would,
                    # takes that form's way below)
                    self._leave_aoti(f"{type(exc).__name__}: {first}", refusal=f"{type(exc).__name__}: {first}")
                    self._use(self._variant)
                    return self._call(static_input)
            # what an earlier process left may be bad; a batch size the child could not compile says nothing of it
            if self._cache is not None and self._cache.state == "warm" and not isinstance(exc, ChildCompileFailed):
                self._rebuild_cache(f"{type(exc).__name__}: {first}")
                self._use(self._variant)
                return self._call(static_input)
            if (self._precompiled is not None and self._saved_graph == AOTI
                    and not isinstance(exc, ChildCompileFailed)):  # the child's package did not load here
                self._leave_aoti(f"{type(exc).__name__}: {first}", refusal=f"{type(exc).__name__}: {first}")
                self._use(self._variant)
                return self._call(static_input)
            if self._precompiled is not None:  # standalone compile refused this program: trace it instead
                self._precompile_note = (f"{'package' if self._saved_graph == AOTI else 'standalone'} compile failed "
                                         f"({type(exc).__name__}: {first}); ran torch.compile")
                self._precompile = False
                self._use(self._variant)
                return self._call(static_input)
            failed = self._variant.name
            self._fallback_note = f"{failed} failed ({type(exc).__name__}: {first}); ran {FALLBACK_VARIANT}"
            self._use(resolve_variant(FALLBACK_VARIANT))
            try:
                with self._torch.no_grad():
                    return self._module(static_input)
            except Exception as again:  # e.g. cuDNN with no kernel for a fused call that both variants make
                if is_out_of_memory(self._torch, again):
                    raise
                second = first_line(again)
                raise TargetError(f"{self._artifact}: variant {failed} failed ({type(exc).__name__}: {first}) and so "
                                  f"did {FALLBACK_VARIANT} ({type(again).__name__}: {second}); choose another with "
                                  "--option variant=... (docs/nvidia.md lists them)") from None

    def _capturing(self) -> bool:
        return self._device.type == "cuda" and bool(self._torch.cuda.is_current_stream_capturing())

    def _launch(self, static_input):
        if self._precompiled is None:
            return self._module(static_input)
        batch = int(static_input.shape[0])
        # the graphs are compiled for the strides make_input gives (the child made its own input)
        layout = self._layout if self._layout is not None and not self._pixels else self._torch.contiguous_format
        static_input = static_input.contiguous(memory_format=layout)
        if batch not in self._calls:
            self._calls[batch] = self._precompiled.callable_for(batch, static_input)
            self._rewrites = self._rewrites or dict(self._precompiled.notes)  # what the child's preparation did
        return self._calls[batch](static_input)

    def make_input(self, batch: int):
        torch = self._torch
        with out_of_memory_as_error(torch, self._device, batch):
            if self._pixels:
                return host_random(torch, (batch, *self._sample_shape), torch.uint8, self._device)
            tensor = host_random(torch, (batch, *self._sample_shape), self._dtype, self._device)
            return tensor.contiguous(memory_format=self._layout) if self._layout is not None else tensor

    def forward(self, static_input) -> list:
        batch = int(static_input.shape[0])
        first = batch not in self._first_call_s
        started = time.perf_counter()
        with out_of_memory_as_error(self._torch, self._device, batch):
            produced = self._call(static_input)
        if first:  # the first call per shape compiles or autotunes: worth reporting
            if self._device.type == "cuda":
                self._torch.cuda.synchronize(self._device)
            self._first_call_s[batch] = round(time.perf_counter() - started, 2)
            mark(f"bs{batch} first call")
        return list(produced) if isinstance(produced, (tuple, list)) else [produced]

    def info(self) -> dict:
        torch = self._torch
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        fallback = {"fallback": self._fallback_note} if self._fallback_note else {}
        if self._variant.inductor is not None:
            fallback["compile_path"] = compile_path_info(self._precompiled, self._precompile_note, self._aoti_note,
                                                         tuple(self._retired))
            if self._warmed:
                fallback["compile_path"]["convolutions_warmed_aside"] = dict(self._warmed)
            hashed = source_keys.report(self._hashed_aside)
            if hashed and self._precompiled is not None and self._precompiled.form == INDUCTOR:
                fallback["compile_path"]["source_keys_hashed_aside"] = hashed
        elif self._warmed:  # asked for, with a variant that has no saved graphs: why nothing was warmed
            fallback["convolutions_warmed_aside"] = dict(self._warmed)
        return {"engine": "torch", "variant": self._variant.name, "variant_settings": self._variant.settings(), **fallback,
                "precision": self._precision, "input_form": InputForm.UINT8 if self._pixels else InputForm.FLOAT32,
                "tf32_allowed": self._precision == Precision.FP32 and self._tf32,
                "cudnn_benchmark": self._cudnn_benchmark_used,
                "effective_precision": effective_precision(self._precision, self._tf32, self._capability()),
                **self._rewrites, **({"compile_cache": self._cache.info()} if self._cache is not None else {}),
                "load_s": self._load_s, "first_call_s": {str(k): v for k, v in self._first_call_s.items()},
                "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": cudnn}

    def _capability(self) -> tuple[int, int] | None:
        if self._device.type != "cuda":
            return None
        return tuple(self._torch.cuda.get_device_capability(self._device))

    def close(self) -> None:
        source_keys.wait()  # no hash of this session's outlives it
        if self._aside is not None:
            self._aside.close()  # waits for a call still running there (a capture), so none outlives the session
        if self._flags is not None:
            self._flags.restore()
