"""Per-sample output parity between two runs, and pass/fail tolerances per precision pair.

`a` is the run under test, `b` the reference (usually fp32). Per sample, on the flattened output,
max_abs_err, mean_abs_err, max_rel_err, cosine and top1_agree as harness/parity.py defines them, and
    top5_overlap = |top5(a) & top5(b)| / 5    (k = min(5, size))
"""
from __future__ import annotations

import operator
from dataclasses import asdict, dataclass

import numpy as np

from harness.errors import ContractError, InputError
from harness.parity import row_cosine, row_errors
from harness.vocabulary import Precision, PrecisionLabel
from tasks.classification.scoring import top_k

CHUNK_ROWS = 2048  # samples stacked at once; bounds memory for 50 000 x 1000 outputs
TOP_K = 5

OPERATORS = {">=": operator.ge, "<=": operator.le}
DEFINITIONS = {
    "max_abs_err": "max |a - b| over one sample's output; aggregate: max over samples",
    "mean_abs_err": "mean |a - b| over one sample's output; aggregate: mean over samples",
    "max_rel_err": "max |a - b| / max |b| (b = reference); aggregate: max over samples",
    "cosine": "a.b / (|a| |b|); aggregates cosine_min and cosine_mean",
    "top1_agree": "argmax a == argmax b; aggregate top1_agreement = fraction of samples",
    "top5_overlap": "|top5(a) & top5(b)| / 5; aggregates top5_overlap_mean and top5_overlap_min",
}


@dataclass(frozen=True)
class Check:
    metric: str
    op: str
    threshold: float

    def evaluate(self, aggregate: dict) -> dict:
        value = aggregate[self.metric]
        return {**asdict(self), "value": value, "passed": bool(OPERATORS[self.op](value, self.threshold))}


# Starting points, recorded in every compare.json so a result can be judged later. fp32 allows TF32
# matmuls on NVIDIA; fp16 follows the 1e-2 order of NVIDIA's FP16 parity recipe; int8 is judged
# mostly on the ranking, which is what top-k accuracy sees.
PROFILES: dict[str, tuple[Check, ...]] = {
    "fp32-fp32": (Check("max_rel_err", "<=", 1e-2), Check("cosine_min", ">=", 0.9999),
                  Check("top1_agreement", ">=", 0.999), Check("top5_overlap_mean", ">=", 0.99)),
    "fp16-fp32": (Check("max_rel_err", "<=", 5e-2), Check("cosine_min", ">=", 0.999),
                  Check("top1_agreement", ">=", 0.99), Check("top5_overlap_mean", ">=", 0.97)),
    "int8-fp32": (Check("cosine_mean", ">=", 0.99), Check("cosine_min", ">=", 0.95),
                  Check("top1_agreement", ">=", 0.95), Check("top5_overlap_mean", ">=", 0.90)),
}
# Every precision and precision label (harness/vocabulary.py) at the profile its errors are judged by;
# "tf32" and "bf16" as other tools name them.
PRECISION_RANK = {Precision.FP32: 0, "tf32": 0, Precision.FP16: 1, "bf16": 1, Precision.INT8: 2,
                  PrecisionLabel.FP32_CUBE_FP16_IN: 1, PrecisionLabel.MIXED_FP16: 1, PrecisionLabel.MIXED_BF16: 1,
                  PrecisionLabel.INT8_ACTIVATIONS_ONLY: 2, PrecisionLabel.FP32_CUBE_HIF8_IN: 2,
                  PrecisionLabel.MIXED_HIF8: 2}
PROFILE_BY_RANK = {0: "fp32-fp32", 1: "fp16-fp32", 2: "int8-fp32"}


def precision_key(precision: str | None) -> str | None:
    """An effective-precision label ('fp32 (TF32 matmul/conv)') as the rank table names it ('tf32')."""
    if precision is None:
        return None
    return "tf32" if "tf32" in precision.lower() else precision.lower()


def infer_profile(precision_a: str | None, precision_b: str | None) -> str:
    """The profile of the lower of the two precisions: fp16 vs fp32 -> fp16-fp32, int8 anywhere -> int8."""
    ranks = []
    for label, precision in (("--a", precision_a), ("--b", precision_b)):
        key = precision_key(precision)
        if key not in PRECISION_RANK:
            raise InputError(f"{label}: precision {precision!r} is unknown (no summary.json or an unusual "
                             f"precision); pass --tolerance-profile {'|'.join(PROFILES)}")
        ranks.append(PRECISION_RANK[key])
    return PROFILE_BY_RANK[max(ranks)]


def check_same_samples(stems_a: list[str], stems_b: list[str]) -> None:
    """Refuse two runs over different image sets, naming an example from each side."""
    only_a = sorted(set(stems_a) - set(stems_b))
    only_b = sorted(set(stems_b) - set(stems_a))
    if only_a or only_b:
        example_a = f", e.g. {only_a[0]!r}" if only_a else ""
        example_b = f", e.g. {only_b[0]!r}" if only_b else ""
        raise InputError(f"the two result directories hold outputs of different image sets ({len(only_a)} "
                         f"only in --a{example_a}; {len(only_b)} only in --b{example_b}); run both over "
                         "the same preprocess directory")


def sample_metrics(a: dict, b: dict) -> list[dict]:
    """Per-sample metrics for the stems both dicts hold (same keys, checked before)."""
    stems = sorted(a)
    rows: list[dict] = []
    for start in range(0, len(stems), CHUNK_ROWS):
        chunk = stems[start:start + CHUNK_ROWS]
        rows.extend(_chunk_metrics(chunk, _stack(chunk, a, "--a"), _stack(chunk, b, "--b")))
    return rows


def _stack(stems: list[str], outputs: dict, label: str) -> np.ndarray:
    sizes = {outputs[s].size for s in stems}
    if len(sizes) != 1:
        raise ContractError(f"{label}: outputs of different sizes {sorted(sizes)} in one run; rerun infer")
    return np.stack([np.asarray(outputs[s], dtype=np.float64).ravel() for s in stems])


def _chunk_metrics(stems: list[str], a: np.ndarray, b: np.ndarray) -> list[dict]:
    if a.shape != b.shape:
        raise ContractError(f"outputs differ in size: --a has {a.shape[1]} values per sample, --b "
                            f"{b.shape[1]}; compare runs of the same model")
    errors = row_errors(a, b)
    cosine = row_cosine(a, b)
    finite_a, finite_b = np.isfinite(a).all(axis=1), np.isfinite(b).all(axis=1)
    top1_a, top1_b = a.argmax(axis=1), b.argmax(axis=1)
    k = min(TOP_K, a.shape[1])
    top_a, top_b = top_k(a, k), top_k(b, k)
    rows = []
    for i, stem in enumerate(stems):
        overlap = len(set(top_a[i].tolist()) & set(top_b[i].tolist())) / k
        rows.append({"stem": stem, **{name: float(values[i]) for name, values in errors.items()},
                     "cosine": float(cosine[i]),
                     "top1_a": int(top1_a[i]), "top1_b": int(top1_b[i]),
                     "top1_agree": bool(top1_a[i] == top1_b[i]), "top5_overlap": overlap,
                     "finite_a": bool(finite_a[i]), "finite_b": bool(finite_b[i])})
    return rows


def nonfinite_problem(rows: list[dict]) -> str | None:
    """Which samples hold NaN or inf, on which side; None when none does. Their errors and cosine are not
    figures (a NaN compares false with every limit), so they are named rather than averaged in."""
    parts = []
    for side in ("a", "b"):
        stems = [r["stem"] for r in rows if not r[f"finite_{side}"]]
        if stems:
            example = ", ".join(stems[:3]) + (" ..." if len(stems) > 3 else "")
            parts.append(f"{len(stems)} of {len(rows)} samples of --{side} ({example})")
    if not parts:
        return None
    return ("outputs hold NaN or inf: " + "; ".join(parts) + "; rerun or rebuild that run (an fp16 overflow, a "
            "damaged artifact) before judging parity")


def aggregate(rows: list[dict]) -> dict:
    """Summary over samples: worst and mean errors, agreement rates."""
    def column(name):
        return np.array([r[name] for r in rows], dtype=np.float64)

    return {"count": len(rows),
            "max_abs_err": float(column("max_abs_err").max()),
            "mean_abs_err": float(column("mean_abs_err").mean()),
            "max_rel_err": float(column("max_rel_err").max()),
            "cosine_min": float(column("cosine").min()),
            "cosine_mean": float(column("cosine").mean()),
            "top1_agreement": float(column("top1_agree").mean()),
            "top5_overlap_mean": float(column("top5_overlap").mean()),
            "top5_overlap_min": float(column("top5_overlap").min()),
            "nonfinite_samples_a": sum(1 for r in rows if not r["finite_a"]),
            "nonfinite_samples_b": sum(1 for r in rows if not r["finite_b"])}


def evaluate(aggregate_values: dict, profile: str) -> list[dict]:
    return [check.evaluate(aggregate_values) for check in PROFILES[profile]]
