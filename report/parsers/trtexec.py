"""Parse a trtexec log (TensorRT 8 to 11): the "=== Performance summary ===" block and its context.

Line format (samples/common/sampleReporting.cpp): `GPU Compute Time: min = X ms, max = X ms,
mean = X ms, median = X ms, percentile(90%) = X ms, ...` and `Throughput: X qps`, where a query
is one inference of the whole explicit batch. TensorRT 11 changed defaults, not the format: CUDA
graphs on and data transfers off unless asked (`--noCudaGraph`, `--includeDataTransfers`), so the
"Inference Options" lines are recorded with every figure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.errors import ContractError

SUPPORTED_MAJORS = (8, 9, 10, 11)
METRICS = ("Latency", "End-to-End Host Latency", "Enqueue Time", "H2D Latency", "GPU Compute Time", "D2H Latency")
OPTION_KEYS = ("CUDA Graph", "Data transfers", "Spin-wait", "Inference Streams", "Streams")

LOG_PREFIX = re.compile(r"^\[\d{2}/\d{2}/\d{4}-\d{2}:\d{2}:\d{2}\]\s+\[([A-Z])\]\s?")
BANNER = re.compile(r"&&&& (?:RUNNING|PASSED|FAILED) TensorRT\.trtexec \[TensorRT v(\d+)\](?: \[b\d+\])?(?: # (.*))?")
VERSION_LINE = re.compile(r"^TensorRT version: (\d+)\.(\d+)\.(\d+)")
STAT = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\)) = ([-+0-9.eE]+) ms")
INFERENCE_SHAPE = re.compile(r"^Input inference shape: [^=]+=(\d+)(?:x\d+)*")
BINDING = re.compile(r"^Input binding for .+ with dimensions (\d+)(?:x\d+)* is created")
SHAPES_FLAG = re.compile(r"--shapes=[^:\s]+:(\d+)(?:x\d+)*")
MODEL_FLAG = re.compile(r"--(?:onnx|loadEngine)=(\S+)")


@dataclass
class TrtexecRun:
    version: str
    major: int
    throughput_qps: float
    metrics: dict[str, dict]  # metric name -> {min, max, mean, median, p90, p95, p99}
    batch_size: int | None = None
    device: str | None = None
    precision: str | None = None
    model_path: str | None = None
    command: str = ""
    options: dict[str, str] = field(default_factory=dict)
    total_host_walltime_s: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def transfers_included(self) -> bool:
        """Whether Throughput/Latency include H2D/D2H (TRT 10 default on, TRT 11 default off)."""
        value = self.options.get("Data transfers")
        return value == "Enabled" if value else self.major < 11

    def conditions(self) -> str:
        parts = [f"{key} {value}" for key, value in self.options.items()]
        return ", ".join(parts + [f"command: {self.command}"] if self.command else parts)


def strip_prefix(line: str) -> str:
    return LOG_PREFIX.sub("", line.rstrip("\n"))


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


def _version(lines: list[str], source: str) -> tuple[str, int]:
    for line in lines:
        match = VERSION_LINE.match(line)
        if match:
            return ".".join(match.groups()), int(match.group(1))
    for line in lines:
        match = BANNER.search(line)
        if match:
            major, minor, patch = parse_version(match.group(1))
            return f"{major}.{minor}.{patch}", major
    raise ContractError(f"{source}: no TensorRT version in the log (neither the '&&&& RUNNING TensorRT.trtexec "
                        "[TensorRT vNNNNNN]' banner nor 'TensorRT version:'); keep trtexec's whole output")


def _batch_size(lines: list[str], command: str) -> int | None:
    for pattern in (INFERENCE_SHAPE, BINDING):
        for line in lines:
            match = pattern.match(line)
            if match:
                return int(match.group(1))
    match = SHAPES_FLAG.search(command)
    if match:
        return int(match.group(1))
    for line in lines:
        if line.startswith("Batch: ") and line[7:].strip().isdigit():
            return int(line[7:].strip())  # implicit-batch engines (TensorRT 8 and older)
    return None


def _summary_block(lines: list[str], source: str) -> list[str]:
    try:
        start = lines.index("=== Performance summary ===")
    except ValueError:
        raise ContractError(f"{source}: no '=== Performance summary ===' in this trtexec log; a build-only run "
                            "(--skipInference) or a truncated log has none; rerun trtexec with inference") from None
    return lines[start + 1:]


def parse_trtexec_log(text: str, source: str = "trtexec log") -> TrtexecRun:
    raw_lines = text.splitlines()
    lines = [strip_prefix(line) for line in raw_lines]
    version, major = _version(lines, source)
    if major not in SUPPORTED_MAJORS:
        raise ContractError(f"{source}: TensorRT {version} trtexec output is not a known format (known: "
                            f"TensorRT {SUPPORTED_MAJORS[0]} to {SUPPORTED_MAJORS[-1]}); check the summary "
                            "lines by hand before adding it")
    block = _summary_block(lines, source)
    metrics, qps, walltime = {}, None, None
    for line in block:
        name, _, rest = line.partition(": ")
        if name in METRICS:
            metrics[name] = parse_stats(rest)
        elif name == "Throughput":
            qps = float(rest.split()[0])
        elif name == "Total Host Walltime":
            walltime = float(rest.split()[0])
    if qps is None or "mean" not in metrics.get("GPU Compute Time", {}):
        raise ContractError(f"{source}: the performance summary has no 'Throughput' or 'GPU Compute Time' line; "
                            "the log is truncated or of an unknown trtexec version")
    banner = next((BANNER.search(line) for line in lines if BANNER.search(line)), None)
    command = (banner.group(2) or "") if banner else ""
    fields = {line.partition(": ")[0]: line.partition(": ")[2].strip() for line in lines if ": " in line}
    model = MODEL_FLAG.search(command)
    return TrtexecRun(
        version=version, major=major, throughput_qps=qps, metrics=metrics,
        batch_size=_batch_size(lines, command), device=fields.get("Selected Device"),
        precision=precision_from(fields.get("Precision"), command), model_path=model.group(1) if model else None,
        command=command, options={k: fields[k] for k in OPTION_KEYS if k in fields},
        total_host_walltime_s=walltime,
        warnings=[strip_prefix(l).strip() for l in raw_lines if "[W] *" in l])
