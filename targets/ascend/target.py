"""The Ascend target: ONNX -> OM with atc, run with aclruntime / ais_bench (or ONNX Runtime CANN EP).

Its options (`--option key=value`) are declared by AscendOptions; docs/ascend.md lists them.
"""
from __future__ import annotations

import functools
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import ConvertManifest, TensorSpec
from harness.errors import InputError, ToolError
from harness.files import atomic_write_text, copy_atomic
from harness.tools import run_tool
from harness.vocabulary import Precision
from targets.ascend import aipp, atc, cann, npu_smi, om_file, ort_cann, power
from targets.ascend.atc_paths import atc_paths
from targets.ascend.pipeline import CHOICES as PIPELINE_CHOICES
from targets.base import BuildRequest, BuildResult, Session, Target
from targets.options import BUILD, RUN, TargetOptions, option

ENGINES = ("om", "ort-cann")
ATC_LOG_LEVELS = ("debug", "info", "warning", "error", "null")
ATC_TIMEOUT_S = 3600
LOG_TAIL_LINES = 20
STAGED_WHY = ("atc refuses paths with characters other than letters, digits and . _ - / (E10001), so it ran in a "
              "temporary directory on copies of the ONNX and AIPP config; atc_argv names those copies")


@dataclass(frozen=True)
class AscendOptions(TargetOptions):
    target = "ascend"
    engine: str = option("om", "OM through atc, or the ONNX itself in onnxruntime-cann", BUILD, choices=ENGINES)
    soc_version: str | None = option(None, "atc --soc_version, e.g. Ascend310P3 (default: from npu-smi info)",
                                     BUILD)
    log: str = option("error", "atc --log level", BUILD, choices=ATC_LOG_LEVELS)
    precision_mode: str | None = option(None, "a raw atc --precision_mode value (or v2:<value>) instead of the "
                                              "precision rule; the label says what it computes in", BUILD)
    aipp: bool = option(True, "insert AIPP when the preprocess manifest is uint8; 0: never", BUILD)
    npu_id: int | None = option(None, "the NPU ID whose power infer samples (default: the device's, from "
                                      "npu-smi info -m)", RUN, minimum=0, one_device=True)
    pipeline: str = option("auto", "run the batches in flight together through aclruntime's run_pipeline, copies "
                                   "overlapping execution; auto: where the runtime has it, 1: refuse to run "
                                   "without it, 0: one batch at a time", RUN, choices=PIPELINE_CHOICES)


class AscendTarget(Target):
    name = "ascend"
    opset = 11  # what the ModelZoo scripts export and every CANN version's ONNX parser takes
    precisions = (Precision.FP32, Precision.FP16)
    artifact_suffix = ".om"
    precision_in_onnx = False  # atc applies --precision_mode to the fp32 ONNX, as the ModelZoo flow does
    options_class = AscendOptions
    options: AscendOptions

    # ---- build ---------------------------------------------------------------------------------
    def build(self, request: BuildRequest) -> BuildResult:
        options = self.build_options(request)
        self.check_precision(request.precision)
        if options.engine == "ort-cann":
            return self._build_ort_cann(request)
        atc_path = cann.require_atc()
        soc = self._soc_version(options)
        gears = atc.gears_for(request.batch_sizes, request.dynamic_batch)
        out_dir = Path(request.out_dir)
        base = atc.output_base_name(request.model, request.precision, gears)
        plan, aipp_path = self._aipp(request, options, out_dir / f"{base}.aippconfig")
        supports_v2 = cann.supports_precision_mode_v2(cann.atc_help(atc_path))
        paths = atc_paths(Path(request.onnx), aipp_path, out_dir, base)
        try:
            config = atc.AtcConfig(
                onnx=paths.onnx, output=paths.out_dir / base,
                input_name=request.input.name, sample_shape=tuple(request.input.sample_shape),
                batch_sizes=gears, soc_version=soc,
                precision_args=atc.precision_args(request.precision, supports_v2, options.precision_mode),
                aipp_config=paths.aipp_config, log=options.log)
            argv = atc.build_atc_argv(config, atc=atc_path)
            om, tail = self._run_atc(argv, paths.out_dir, out_dir, base)
        finally:
            paths.release()
        om_file.secure(om)
        input_spec = self._om_input(request, gears, plan)
        info = {"engine": "om", "soc_version": soc, "gears": gears, "cann": cann.cann_version(),
                "precision_flags": config.precision_args,
                "effective_precision": atc.effective_precision(config.precision_args),
                "atc_argv": argv, "atc_log_tail": tail,
                **({"atc_staged": STAGED_WHY} if paths.staged else {}),
                "aipp": aipp_path.name if aipp_path else None, "input": vars(input_spec)}
        return BuildResult(artifact=om, info=info)

    @staticmethod
    def _soc_version(options: AscendOptions) -> str:
        if options.soc_version:
            return npu_smi.normalize_soc_version(options.soc_version)
        return npu_smi.detect_soc_version()

    @staticmethod
    def _aipp(request: BuildRequest, options: AscendOptions, path: Path):
        if not aipp.wants_aipp(request.preprocess) or not options.aipp:
            return None, None
        chw = tuple(int(d) for d in request.input.sample_shape)
        return aipp.write_aipp_config(path, request.preprocess, chw), path

    @staticmethod
    def _om_input(request: BuildRequest, gears: list[int], plan) -> TensorSpec:
        batch = gears[0] if len(gears) == 1 else -1
        if plan is None:
            return TensorSpec(request.input.name, [batch, *request.input.sample_shape], request.input.dtype)
        return TensorSpec(request.input.name, [batch, plan.src_h, plan.src_w, 3], "uint8")

    def _run_atc(self, argv: list[str], work_dir: Path, out_dir: Path, base: str) -> tuple[Path, str]:
        """Run atc in `work_dir` (the convert directory, or the staging directory standing in for it) and
        put the OM it writes into `out_dir`."""
        for stale in atc.om_candidates(out_dir, base):
            stale.unlink()
        # atc writes fusion_result.json and kernel_meta/ into its working directory
        result = run_tool(argv, cwd=str(work_dir), timeout=ATC_TIMEOUT_S, check=False)
        log_path = out_dir / f"{base}.atc.log"
        atomic_write_text(log_path, f"$ {shlex.join(argv)}\n{result.output}")
        tail = result.tail(LOG_TAIL_LINES)
        if result.returncode != 0:
            raise ToolError(f"atc failed with exit code {result.returncode} ({log_path}): "
                            f"{atc.error_summary(result.output)}")
        found = atc.om_candidates(work_dir, base)
        if not found:
            raise ToolError(f"atc exited 0 but wrote no {base}.om in {work_dir} ({log_path}): "
                            f"{atc.error_summary(result.output, 3)}")
        om = found[0]
        if work_dir.resolve() != Path(out_dir).resolve():
            copy_atomic(om, out_dir / om.name)
            om = out_dir / om.name
        return om, tail

    def _build_ort_cann(self, request: BuildRequest) -> BuildResult:
        ort_cann.check_precision(request.precision)
        artifact = Path(request.out_dir) / f"{request.model}.{request.precision}.cann.onnx"
        copy_atomic(request.onnx, artifact)
        return BuildResult(artifact=artifact, info={"engine": "ort-cann", "precision_mode": "force_fp16"})

    # ---- open ----------------------------------------------------------------------------------
    def open(self, artifact: Path, manifest: ConvertManifest, device: str = "0",
             batch_hint: int | None = None) -> Session:
        from targets.ascend.runtime import AscendSession, device_index

        artifact = Path(artifact)
        if artifact.suffix == ".onnx":
            if self.options.pipeline == "1":
                raise InputError(f"{artifact.name}: ascend target option pipeline=1 needs the om engine; "
                                 "onnxruntime-cann runs one batch at a time (leave pipeline at auto or 0)")
            session = ort_cann.OrtCannSession(artifact, device_index(device))
        else:
            info = manifest.target_info or {}
            expected = TensorSpec(**info["input"]) if isinstance(info.get("input"), dict) else manifest.input
            if info.get("bare"):
                expected = None  # an OM convert did not build: the runtime's description is all there is
            gears = info.get("gears") or manifest.batch_sizes
            kept = ("soc_version", "cann", "precision_flags", "effective_precision")
            extra = {k: info[k] for k in kept if k in info}
            session = AscendSession(artifact, device, gears=gears, expected=expected, extra_info=extra,
                                    pipeline=self.options.pipeline)
        session.use_energy_meter(functools.partial(power.ascend_energy_meter, device_index(device),
                                                   self.options.npu_id))
        return session

    def idle_state(self, device: str):
        from targets.ascend.idle import npu_idle_state
        from targets.ascend.runtime import device_index

        return npu_idle_state(device_index(device), self.options.npu_id)

    def versions(self) -> dict:
        """CANN version and which precision flag its atc takes: both change what atc builds."""
        if self.options.engine == "ort-cann":
            return {"engine": "ort-cann"}
        versions = {"cann": cann.cann_version()}
        atc_path = shutil.which("atc")
        if atc_path:
            versions["atc_precision_flag"] = ("precision_mode_v2" if cann.supports_precision_mode_v2(
                cann.atc_help(atc_path)) else "precision_mode")
        return versions
