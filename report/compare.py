"""`python -m report.compare --a DIR --b DIR`: output parity of two infer result directories.

--b is the reference (e.g. the fp32 CPU run), --a the run under test. Writes compare.json (every
per-sample figure, the aggregate, the tolerances and the verdict), prints a one-screen summary and
exits non-zero (9) when a tolerance is not met, so it can gate a pipeline.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.cli import Parser, main_wrapper
from harness.contracts import SCHEMA_VERSION, read_run_summary
from harness.errors import HarnessError
from harness.files import write_json
from harness.outputs import read_outputs
from report import parity
from report.common import fmt_sig, json_safe

COMPARE_KIND = "harness.compare"
WORST_SHOWN = 5


class ParityFailure(HarnessError):
    """The outputs differ by more than the tolerance profile allows."""

    exit_code = 9


@dataclass
class CompareConfig:
    a: Path
    b: Path
    output: Path = Path("compare.json")
    tolerance_profile: str | None = None
    output_index: int = 0


def parse_args(argv: Sequence[str]) -> CompareConfig:
    p = Parser(prog="python -m report.compare", description=__doc__)
    p.add_argument("--a", required=True, type=Path, help="result directory under test")
    p.add_argument("--b", required=True, type=Path, help="reference result directory (e.g. fp32)")
    p.add_argument("--tolerance-profile", dest="tolerance_profile", choices=sorted(parity.PROFILES),
                   help="default: inferred from the two summary.json precisions")
    p.add_argument("--output", type=Path, default=Path("compare.json"), help="where compare.json goes")
    p.add_argument("--output-index", dest="output_index", type=int, default=0, help="model output k")
    return CompareConfig(**vars(p.parse_args(list(argv))))


def describe_run(result_dir: Path) -> dict:
    """What ran, from the run summary when the directory has one."""
    info: dict = {"dir": str(result_dir)}
    s = read_run_summary(result_dir)
    if s is not None:
        info.update(target=s.target, device=s.device_name or s.device, precision=s.precision,
                    model=s.model, batch_size=s.batch_size)
    return info


def without_calibration_images(config: CompareConfig, outputs_a: dict, outputs_b: dict) -> tuple[dict, dict]:
    """Both sides without the images an int8 run left out because they calibrated it."""
    left_out = set()
    for directory in (config.a, config.b):
        summary = read_run_summary(directory)
        left_out |= set(summary.calibration_left_out) if summary is not None else set()
    if left_out:
        print(f"compare: {len(left_out)} calibration images left out of both sides")
    return ({k: v for k, v in outputs_a.items() if k not in left_out},
            {k: v for k, v in outputs_b.items() if k not in left_out})


def run(config: CompareConfig) -> dict:
    outputs_a = read_outputs(config.a, config.output_index)
    outputs_b = read_outputs(config.b, config.output_index)
    outputs_a, outputs_b = without_calibration_images(config, outputs_a, outputs_b)
    parity.check_same_samples(list(outputs_a), list(outputs_b))
    run_a, run_b = describe_run(config.a), describe_run(config.b)
    profile = config.tolerance_profile or parity.infer_profile(run_a.get("precision"), run_b.get("precision"))
    rows = parity.sample_metrics(outputs_a, outputs_b)
    totals = parity.aggregate(rows)
    checks = parity.evaluate(totals, profile)
    nonfinite = parity.nonfinite_problem(rows)
    result = {"kind": COMPARE_KIND, "schema_version": SCHEMA_VERSION, "a": run_a, "b": run_b, "reference": "b",
              "output_index": config.output_index, "profile": profile,
              "profile_source": "flag" if config.tolerance_profile else "inferred",
              "definitions": parity.DEFINITIONS,
              "aggregate": totals, "checks": checks, "nonfinite": nonfinite,
              "passed": nonfinite is None and all(c["passed"] for c in checks), "samples": rows}
    config.output.parent.mkdir(parents=True, exist_ok=True)
    write_json(config.output, json_safe(result))
    print(summary_text(result, config.output))
    if not result["passed"]:
        failed = "; ".join(([nonfinite] if nonfinite else []) +
                           [f"{c['metric']} {fmt_sig(c['value'])} not {c['op']} {c['threshold']:g}"
                            for c in checks if not c["passed"]])
        raise ParityFailure(f"parity check failed ({profile}): {failed}; details in {config.output}")
    return result


def _label(run_info: dict) -> str:
    if "target" not in run_info:
        return run_info["dir"]
    return f"{run_info['target']} {run_info['precision']} bs{run_info['batch_size']} on {run_info['device']}"


def _cosine_order(row: dict) -> float:
    """Lowest cosine first, a sample whose cosine is not a number before any."""
    cosine = row["cosine"]
    return cosine if isinstance(cosine, float) and math.isfinite(cosine) else -math.inf


def summary_text(result: dict, output: Path) -> str:
    """The one-screen summary: what was compared, each check, the worst samples, the verdict."""
    lines = [f"parity  A: {_label(result['a'])}",
             f"        B (reference): {_label(result['b'])}",
             f"profile {result['profile']} ({result['profile_source']}), "
             f"{result['aggregate']['count']} samples, output {result['output_index']}", "",
             f"{'metric':<20} {'value':>12}  limit        result"]
    for check in result["checks"]:
        verdict = "PASS" if check["passed"] else "FAIL"
        lines.append(f"{check['metric']:<20} {fmt_sig(check['value']):>12}  "
                     f"{check['op']} {check['threshold']:<9g} {verdict}")
    shown = {c["metric"] for c in result["checks"]}
    for name, value in result["aggregate"].items():
        if name not in shown and name != "count":
            lines.append(f"{name:<20} {fmt_sig(value):>12}")
    worst = sorted(result["samples"], key=_cosine_order)[:WORST_SHOWN]
    lines.append("")
    if result.get("nonfinite"):
        lines.append(result["nonfinite"])
    lines.append("lowest cosine: " + ", ".join(f"{r['stem']} ({fmt_sig(r['cosine'])})" for r in worst))
    flipped = [r["stem"] for r in result["samples"] if not r["top1_agree"]]
    if flipped:
        lines.append(f"top-1 differs on {len(flipped)}: " + ", ".join(flipped[:WORST_SHOWN])
                     + (" ..." if len(flipped) > WORST_SHOWN else ""))
    lines.append(f"result: {'PASS' if result['passed'] else 'FAIL'}  ({output})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return main_wrapper(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
