"""Parse a trtexec log (TensorRT 8 to 11): the "=== Performance summary ===" block and its context.

Line format (samples/common/sampleReporting.cpp): `GPU Compute Time: min = X ms, max = X ms,
mean = X ms, median = X ms, percentile(90%) = X ms, ...` and `Throughput: X qps`. trtexec computes
Throughput as batch * queries / walltime with batch = `--batch` for implicit-batch engines (TensorRT 8 and
older; it then already counts images) and 1 otherwise: an explicit-batch query is one inference of the whole
batch. `--verbose` logs repeat the metric names in explanation lines after the summary; those are not read.
The batch of an explicit-batch run is the first dimension of its input binding, worded per version:
`Created input binding for x with dimensions 4x3x224x224` (8.0-8.5), `Input binding for x with dimensions
4x3x224x224 is created.` (8.6-10.x), `... and type fp32 is created.` (10.16, 11). The `Batch: 1` line a TensorRT
8 `--loadEngine` run prints is the default of --batch, not the engine's batch, and is never used.
TensorRT 11 changed defaults, not the format: CUDA graphs on and data transfers off unless asked, so the
"Inference Options" lines are recorded with every figure. `msit benchmark --backend trtexec` re-prints the
summary with an `[INFO] ` prefix and without the TensorRT version.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.errors import ContractError

SUPPORTED_MAJORS = (8, 9, 10, 11)
METRICS = ("Latency", "End-to-End Host Latency", "Enqueue Time", "H2D Latency", "GPU Compute Time", "D2H Latency")
OPTION_KEYS = ("CUDA Graph", "Data transfers", "Spin-wait", "Inference Streams", "Streams")
SUMMARY_HEADER = "=== Performance summary ==="

MSIT_PREFIX = "[INFO] "
LOG_PREFIX = re.compile(r"^(?:\[\d{2}/\d{2}/\d{4}-\d{2}:\d{2}:\d{2}\]\s+)?\[([A-Z])\]\s?")
BANNER = re.compile(r"&&&& (?:RUNNING|PASSED|FAILED) TensorRT\.trtexec \[TensorRT v(\d+)\](?: \[b\d+\])?(?: # (.*))?")
VERSION_LINE = re.compile(r"^TensorRT version: (\d+(?:\.\d+)*)\s*$")
STAT = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\)) = ([-+0-9.eE]+) ms")
NUMBER_WITH_UNIT = re.compile(r"^([-+0-9.eE]+) (qps|s)$")
INFERENCE_SHAPE = re.compile(r"^Input inference shape\s*(?:\(profile \d+\))?\s*: .*=(\d+)(?:x\d+)*\s*$")
BINDING = re.compile(r"^(?:Created input binding|Input binding) for .+ with dimensions (\d+)(?:x\d+)*(?: |$)")
AUTO_SHAPE = re.compile(r"^Dynamic dimensions required for input: .*Automatically overriding shape to: (\d+)")
SHAPES_FLAG = re.compile(r"--shapes=[^,\s]*:(\d+)(?:x\d+)*")
BATCH_FLAG = re.compile(r"--batch=(\d+)")
MODEL_FLAG = re.compile(r"--(?:onnx|loadEngine|deploy|uff|model)=(\S+)")
PRECISION_IN_NAME = re.compile(r"(?<![a-z0-9])(fp32|fp16|bf16|int8|fp8)(?![a-z0-9])", re.IGNORECASE)


@dataclass
class TrtexecRun:
    version: str | None  # None: the log does not say (msit's re-print)
    major: int | None
    throughput_qps: float
    metrics: dict[str, dict]  # metric name -> {min, max, mean, median, p90, p95, p99}
    batch_size: int | None = None
    implicit_batch: bool = False  # Throughput already counts images
    batch_evidence: str = ""
    device: str | None = None
    precision: str | None = None
    precision_evidence: str = ""
    model_path: str | None = None
    command: str = ""
    options: dict[str, str] = field(default_factory=dict)
    total_host_walltime_s: float | None = None
    warnings: list[str] = field(default_factory=list)
    reprinted_by: str | None = None

    @property
    def transfers_included(self) -> bool:
        """Whether Throughput/Latency include H2D/D2H (TRT 10 default on, TRT 11 default off)."""
        value = self.options.get("Data transfers")
        return value == "Enabled" if value else (self.major or 0) < 11

    @property
    def software(self) -> str:
        if self.version is None:
            return f"TensorRT version not in log (trtexec, as {self.reprinted_by or 'another tool'} re-printed it)"
        return f"TensorRT {self.version} (trtexec)"

    def conditions(self) -> str:
        parts = [f"{key} {value}" for key, value in self.options.items()]
        return ", ".join(parts + [f"command: {self.command}"] if self.command else parts)


def _split_line(line: str) -> tuple[str, str]:
    """(severity letter or "", text) of one log line, without timestamp and msit's "[INFO] " prefix."""
    line = line.rstrip("\r\n")
    if line.startswith(MSIT_PREFIX + "["):
        line = line[len(MSIT_PREFIX):]
    match = LOG_PREFIX.match(line)
    return (match.group(1), line[match.end():]) if match else ("", line)


def parse_version(digits: str) -> tuple[int, int, int]:
    """`100900` -> (10, 9, 0); `8602` -> (8, 6, 2): the banner packs major/minor/patch into digits."""
    if len(digits) == 4:
        return int(digits[0]), int(digits[1]), int(digits[2:])
    if len(digits) >= 5:
        return int(digits[:-4]), int(digits[-4:-2]), int(digits[-2:])
    raise ValueError(digits)


def parse_stats(text: str) -> dict:
    stats = {}
    for name, pct, value in STAT.findall(text):
        stats[f"p{pct}" if pct else name] = float(value)
    return stats


def precision_from(build_precision: str | None, command: str) -> str | None:
    """trtexec's 'Precision:' build line (FP32+FP16, FP32+INT8, ...) or its flags, for engines built here."""
    if "--loadEngine" in command and "--onnx" not in command:
        return None  # the build options printed then are defaults, not the engine's
    flags = set(re.findall(r"--(fp16|bf16|int8|fp8|best)\b", command))
    text = (build_precision or "").upper()
    for name in ("int8", "fp8", "bf16", "fp16"):
        if name.upper() in text or name in flags:
            return name
    if "best" in flags:
        return "int8"  # --best lets TensorRT pick any precision down to INT8
    return "fp32" if text.strip() == "FP32" else None


def _version(lines: list[str]) -> tuple[str | None, int | None]:
    """From `TensorRT version: 8.5.2` (8.0 printed it packed: `8003`) or the `[TensorRT v8502]` banner."""
    for line in lines:
        match = VERSION_LINE.match(line)
        if match:
            text = match.group(1)
            parts = parse_version(text) if "." not in text and len(text) >= 4 else tuple(map(int, text.split(".")))
            return ".".join(map(str, parts)), int(parts[0])
    for line in lines:
        match = BANNER.search(line)
        if match:
            major, minor, patch = parse_version(match.group(1))
            return f"{major}.{minor}.{patch}", major
    return None, None


def _batch(lines: list[str], command: str) -> tuple[int | None, bool, str]:
    """(batch, implicit, evidence). Implicit batch: `--batch=N` or `Batch: N` with N > 1 (TensorRT 8)."""
    flag = BATCH_FLAG.search(command)
    option = next((line[7:].strip() for line in lines if line.startswith("Batch: ")), "")
    if flag or (option.isdigit() and int(option) > 1):
        batch = int(flag.group(1)) if flag else int(option)
        return batch, True, f"implicit batch {batch} (--batch): trtexec Throughput counts images"
    for pattern, what in ((BINDING, "input binding"), (INFERENCE_SHAPE, "Input inference shape"),
                          (AUTO_SHAPE, "shape trtexec chose for a dynamic input")):
        found = next((m for m in map(pattern.match, lines) if m), None)
        if found:
            return int(found.group(1)), False, f"batch {found.group(1)} from the {what}"
    shapes = SHAPES_FLAG.search(command)
    if shapes:
        return int(shapes.group(1)), False, f"batch {shapes.group(1)} from --shapes"
    return None, False, ""


def _summary(lines: list[tuple[str, str]], source: str) -> tuple[dict, float, float | None]:
    """Metrics, qps and walltime from the summary block; verbose explanation lines ([V]) are left out."""
    start = next((i for i, (_, text) in enumerate(lines) if text.strip() == SUMMARY_HEADER), None)
    if start is None:
        raise ContractError(f"{source}: no '{SUMMARY_HEADER}' in this trtexec log; a build-only run "
                            "(--skipInference) or a truncated log has none; rerun trtexec with inference")
    metrics, values = {}, {}
    for severity, text in lines[start + 1:]:
        if text.startswith("=== ") or text.startswith("&&&&"):
            break
        name, _, rest = text.partition(": ")
        if severity == "V" or name in metrics or name in values:
            continue
        if name in METRICS and "mean = " in rest:
            metrics[name] = parse_stats(rest)
        elif NUMBER_WITH_UNIT.match(rest.strip()) and name in ("Throughput", "Total Host Walltime"):
            values[name] = float(rest.split()[0])
    if "Throughput" not in values or "mean" not in metrics.get("GPU Compute Time", {}):
        raise ContractError(f"{source}: the performance summary has no 'Throughput' or 'GPU Compute Time' line; "
                            "the log is truncated or of an unknown trtexec version")
    return metrics, values["Throughput"], values.get("Total Host Walltime")


def parse_trtexec_log(text: str, source: str = "trtexec log") -> TrtexecRun:
    split = [_split_line(line) for line in text.splitlines()]
    lines = [line for _, line in split]
    version, major = _version(lines)
    if major is not None and major not in SUPPORTED_MAJORS:
        raise ContractError(f"{source}: TensorRT {version} trtexec output is not a known format (known: "
                            f"TensorRT {SUPPORTED_MAJORS[0]} to {SUPPORTED_MAJORS[-1]}); check the summary "
                            "lines by hand before adding it")
    reprinted = "msit benchmark" if any(l.startswith(MSIT_PREFIX + "[") for l in text.splitlines()) else None
    if version is None and reprinted is None:
        raise ContractError(f"{source}: no TensorRT version in the log (neither the '&&&& RUNNING TensorRT.trtexec "
                            "[TensorRT vNNNNNN]' banner nor 'TensorRT version:'); keep trtexec's whole output")
    metrics, qps, walltime = _summary(split, source)
    banner = next((m for m in map(BANNER.search, lines) if m), None)
    command = (banner.group(2) or "") if banner else ""
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(name, value.strip())
    model = MODEL_FLAG.search(command)
    batch, implicit, evidence = _batch(lines, command)
    if (major or 0) < 9 and "--loadEngine" in command and not implicit and "--shapes" not in command and batch:
        evidence += " (TensorRT 8 prints no batch for a loaded engine: an implicit-batch engine needs --batch)"
    precision, precision_evidence = precision_from(fields.get("Precision"), command), ""
    if precision is None and model and "--loadEngine" in command:
        named = PRECISION_IN_NAME.search(model.group(1))
        precision, precision_evidence = (named.group(1).lower(), "precision from the engine file name") if named \
            else (None, "")
    return TrtexecRun(
        version=version, major=major, throughput_qps=qps, metrics=metrics, batch_size=batch,
        implicit_batch=implicit, batch_evidence=evidence, device=fields.get("Selected Device"),
        precision=precision, precision_evidence=precision_evidence, model_path=model.group(1) if model else None,
        command=command, options={k: fields[k] for k in OPTION_KEYS if k in fields},
        total_host_walltime_s=walltime, reprinted_by=reprinted,
        warnings=[text.strip() for severity, text in split if severity == "W" and text.startswith("*")])
