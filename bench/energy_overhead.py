"""Does sampling energy slow the timed loop? The null target's pure loop, in pairs of runs with the meter
off and on (order alternating), on the loop's own costs (no device: `--compute-ms 0`) and beside an
emulated device (`--compute-ms 1`). Median ms per batch of each side and the median of the per-pair
ratios, printed side by side, for two kinds of sampled source at the meters' own rate (10 Hz):

  file        a counter in a file, read every sample (RAPL's energy_uj): `CounterMeter`
  subprocess  a command run every sample that prints a power line (npu-smi): `SampledPowerMeter`

    python bench/energy_overhead.py [--pairs 10] [--seconds 1.0] [--batch 8] [--json out.json]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.contracts import ConvertManifest, TensorSpec  # noqa: E402
from harness.energy import CounterMeter, CounterUnreadable, SampledPowerMeter, UnavailableMeter  # noqa: E402
from harness.files import write_json  # noqa: E402
from harness.tools import run_tool  # noqa: E402
from infer.loop import run_pure  # noqa: E402
from targets.null.target import NullSession  # noqa: E402


class FileCounter:
    """A counter in a file, as RAPL's energy_uj; its value never changes here (the cost is the read)."""

    name, resolution = "file counter", "1 uJ"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("123456789\n")

    def read(self) -> tuple[float, ...]:
        return (int(self.path.read_text()) * 1e-6,)

    def wrap_ranges(self):
        return (None,)


class CommandGauge:
    """Runs a small program per sample that prints a power line, as npu-smi does."""

    name, resolution = "command", "0.1 W"

    def __init__(self, path: Path) -> None:
        path.write_text("\tPower Dissipation(W)           : 15.8\n")
        self.argv = [shutil.which("cat") or "/bin/cat", str(path)]

    def read_watts(self) -> float:
        result = run_tool(self.argv, timeout=10, check=False)
        if result.returncode != 0:
            raise CounterUnreadable(result.tail(1))
        return float(result.output.partition(":")[2])


def null_session(batch: int, compute_ms: float) -> NullSession:
    manifest = ConvertManifest(model="null", target="null", precision="fp32", artifact="", onnx="", sim_onnx="",
                               input=TensorSpec("image", [-1, 3, 224, 224]), output=TensorSpec("class", [-1, 1000]),
                               batch_sizes=[batch], dynamic_batch=True, opset=17)
    return NullSession(manifest, compute_ms)


def one_run(session: NullSession, batch: int, seconds: float, meter_factory) -> tuple[float, int]:
    """(ms per batch over the timed loop, power samples the meter took)."""
    session.use_energy_meter(meter_factory)
    result = run_pure(session, batch, loop=1, warmup_count=5, time_limit=seconds)
    return 1000.0 * result.wall_s / result.batches, result.energy.samples


def compare(source: str, meter_factory, compute_ms: float, args) -> dict:
    session = null_session(args.batch, compute_ms)
    off, on, ratios, samples = [], [], [], []
    for pair in range(args.pairs):
        order = ("off", "on") if pair % 2 == 0 else ("on", "off")
        got = {}
        for side in order:
            factory = meter_factory if side == "on" else (lambda: UnavailableMeter("off"))
            got[side] = one_run(session, args.batch, args.seconds, factory)
        off.append(got["off"][0])
        on.append(got["on"][0])
        ratios.append(got["on"][0] / got["off"][0])
        samples.append(got["on"][1])
    return {"source": source, "compute_ms": compute_ms, "off_ms": statistics.median(off),
            "on_ms": statistics.median(on), "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "samples_median": statistics.median(samples),
            "pairs": args.pairs, "seconds": args.seconds, "batch": args.batch}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--seconds", type=float, default=1.0, help="each run's timed loop")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--compute-ms", type=float, nargs="+", default=[0.0, 1.0])
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="energy-overhead-"))
    sources = {"file": lambda: CounterMeter(FileCounter(scratch / "energy_uj")),
               "subprocess": lambda: SampledPowerMeter(CommandGauge(scratch / "power.txt"))}
    rows = [compare(name, factory, ms, args) for ms in args.compute_ms for name, factory in sources.items()]
    print(f"{'source':<11} {'device ms':>9} {'off ms/batch':>13} {'on ms/batch':>12} {'on/off median':>14} "
          f"{'(min-max)':>14} {'samples/run':>11}")
    for r in rows:
        print(f"{r['source']:<11} {r['compute_ms']:>9.1f} {r['off_ms']:>13.4f} {r['on_ms']:>12.4f} "
              f"{r['ratio_median']:>14.4f} {r['ratio_min']:>6.3f}-{r['ratio_max']:<6.3f} {r['samples_median']:>11.0f}")
    print(f"{args.pairs} pairs of {args.seconds} s runs per row, order alternating; batch {args.batch}")
    shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        write_json(args.json, rows, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
