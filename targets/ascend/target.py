"""The Ascend target: ONNX -> OM with atc, run with aclruntime / ais_bench (or ONNX Runtime CANN EP).

Options (`--option key=value` in convert/infer):
  engine=om|ort-cann     OM through atc (default) or the ONNX in onnxruntime-cann
  soc_version=Ascend310P3  atc --soc_version; detected from `npu-smi info` when not given
  log=error              atc --log level (debug, info, warning, error, null)
  precision_mode=...     a raw atc --precision_mode value (or v2:<value>) instead of the precision rule;
                         convert.json and summary.json then carry the precision it really computes in
  aipp=0                 do not insert AIPP even when the preprocess manifest is uint8
  npu_id=N               the NPU ID whose power infer samples (default: the device's, from npu-smi info -m)
"""
from __future__ import annotations

import functools
import shlex
import shutil
from pathlib import Path

from harness.contracts import ConvertManifest, TensorSpec
from harness.errors import InputError, ToolError
from harness.files import atomic_write_text, copy_atomic
from harness.tools import run_tool
from harness.vocabulary import Precision
from targets.ascend import aipp, atc, cann, npu_smi, om_file, ort_cann, power
from targets.base import BuildRequest, BuildResult, Session, Target

ENGINES = ("om", "ort-cann")
ATC_TIMEOUT_S = 3600
LOG_TAIL_LINES = 20


def _flag(value) -> bool:
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


class AscendTarget(Target):
    name = "ascend"
    opset = 11  # what the ModelZoo scripts export and every CANN version's ONNX parser takes
    precisions = (Precision.FP32, Precision.FP16)
    artifact_suffix = ".om"
    precision_in_onnx = False  # atc applies --precision_mode to the fp32 ONNX, as the ModelZoo flow does

    def _engine(self, options: dict) -> str:
        engine = str(options.get("engine", "om"))
        if engine not in ENGINES:
            raise InputError(f"unknown ascend engine {engine!r}; choose one of {', '.join(ENGINES)}")
        return engine

    # ---- build ---------------------------------------------------------------------------------
    def build(self, request: BuildRequest) -> BuildResult:
        options = {**self.options, **request.options}
        self.check_precision(request.precision)
        if self._engine(options) == "ort-cann":
            return self._build_ort_cann(request)
        atc_path = cann.require_atc()
        soc = self._soc_version(options)
        gears = atc.gears_for(request.batch_sizes, request.dynamic_batch)
        out_dir = Path(request.out_dir)
        base = atc.output_base_name(request.model, request.precision, gears)
        plan, aipp_path = self._aipp(request, options, out_dir / f"{base}.aippconfig")
        supports_v2 = cann.supports_precision_mode_v2(cann.atc_help(atc_path))
        config = atc.AtcConfig(
            onnx=Path(request.onnx).resolve(), output=out_dir.resolve() / base,
            input_name=request.input.name, sample_shape=tuple(request.input.sample_shape),
            batch_sizes=gears, soc_version=soc,
            precision_args=atc.precision_args(request.precision, supports_v2, options.get("precision_mode")),
            aipp_config=aipp_path.resolve() if aipp_path else None, log=str(options.get("log", "error")))
        argv = atc.build_atc_argv(config, atc=atc_path)
        om, tail = self._run_atc(argv, out_dir, base)
        om_file.secure(om)
        input_spec = self._om_input(request, gears, plan)
        info = {"engine": "om", "soc_version": soc, "gears": gears, "cann": cann.cann_version(),
                "precision_flags": config.precision_args,
                "effective_precision": atc.effective_precision(config.precision_args),
                "atc_argv": argv, "atc_log_tail": tail,
                "aipp": aipp_path.name if aipp_path else None, "input": vars(input_spec)}
        return BuildResult(artifact=om, info=info)

    def _soc_version(self, options: dict) -> str:
        given = options.get("soc_version")
        if given:
            return npu_smi.normalize_soc_version(str(given))
        return npu_smi.detect_soc_version()

    def _aipp(self, request: BuildRequest, options: dict, path: Path):
        if not aipp.wants_aipp(request.preprocess) or not _flag(options.get("aipp", "1")):
            return None, None
        chw = tuple(int(d) for d in request.input.sample_shape)
        return aipp.write_aipp_config(path, request.preprocess, chw), path

    @staticmethod
    def _om_input(request: BuildRequest, gears: list[int], plan) -> TensorSpec:
        batch = gears[0] if len(gears) == 1 else -1
        if plan is None:
            return TensorSpec(request.input.name, [batch, *request.input.sample_shape], request.input.dtype)
        return TensorSpec(request.input.name, [batch, plan.src_h, plan.src_w, 3], "uint8")

    def _run_atc(self, argv: list[str], out_dir: Path, base: str) -> tuple[Path, str]:
        for stale in atc.om_candidates(out_dir, base):
            stale.unlink()
        # atc writes fusion_result.json and kernel_meta/ into its working directory
        result = run_tool(argv, cwd=str(out_dir), timeout=ATC_TIMEOUT_S, check=False)
        log_path = out_dir / f"{base}.atc.log"
        atomic_write_text(log_path, f"$ {shlex.join(argv)}\n{result.output}")
        tail = result.tail(LOG_TAIL_LINES)
        if result.returncode != 0:
            raise ToolError(f"atc failed with exit code {result.returncode} ({log_path}): "
                            f"{atc.error_summary(result.output)}")
        found = atc.om_candidates(out_dir, base)
        if not found:
            raise ToolError(f"atc exited 0 but wrote no {base}.om in {out_dir} ({log_path}): "
                            f"{atc.error_summary(result.output, 3)}")
        return found[0], tail

    def _build_ort_cann(self, request: BuildRequest) -> BuildResult:
        ort_cann.check_precision(request.precision)
        artifact = Path(request.out_dir) / f"{request.model}.{request.precision}.cann.onnx"
        copy_atomic(request.onnx, artifact)
        return BuildResult(artifact=artifact, info={"engine": "ort-cann", "precision_mode": "force_fp16"})

    # ---- open ----------------------------------------------------------------------------------
    def open(self, artifact: Path, manifest: ConvertManifest, device: str = "0") -> Session:
        from targets.ascend.runtime import AscendSession, device_index

        artifact = Path(artifact)
        if artifact.suffix == ".onnx":
            session = ort_cann.OrtCannSession(artifact, device_index(device))
        else:
            info = manifest.target_info or {}
            expected = TensorSpec(**info["input"]) if isinstance(info.get("input"), dict) else manifest.input
            if info.get("bare"):
                expected = None  # an OM convert did not build: the runtime's description is all there is
            gears = info.get("gears") or manifest.batch_sizes
            kept = ("soc_version", "cann", "precision_flags", "effective_precision")
            extra = {k: info[k] for k in kept if k in info}
            session = AscendSession(artifact, device, gears=gears, expected=expected, extra_info=extra)
        session.use_energy_meter(functools.partial(power.ascend_energy_meter, device_index(device),
                                                   self.options.get("npu_id")))
        return session

    def idle_state(self, device: str):
        from targets.ascend.idle import npu_idle_state

        return npu_idle_state(int(device) if str(device).isdigit() else 0, self.options.get("npu_id"))

    def versions(self) -> dict:
        """CANN version and which precision flag its atc takes: both change what atc builds."""
        options = dict(self.options)
        if options.get("engine") == "ort-cann":
            return {"engine": "ort-cann"}
        versions = {"cann": cann.cann_version()}
        atc_path = shutil.which("atc")
        if atc_path:
            versions["atc_precision_flag"] = ("precision_mode_v2" if cann.supports_precision_mode_v2(
                cann.atc_help(atc_path)) else "precision_mode")
        return versions
