"""Two pure-mode workers side by side (`infer --device 0,1`, one per GPU) against one GPU alone."""
from __future__ import annotations

from pathlib import Path

from loop_io import infer


def multi_gpu(model_dir: Path, out_root: Path, devices: str, batch: int = 64, seconds: float = 20.0) -> dict:
    """`infer --device 0,1` (one worker per GPU, side by side) against one GPU alone, pure mode."""
    common = ("--batchsize", str(batch), "--loop", "100", "--warmup_count", "20", "--time_limit", str(seconds))
    single = infer(model_dir, out_root, "single", "--device", devices.split(",")[0], *common)
    both = infer(model_dir, out_root, "multi", "--device", devices, *common)
    one = single["throughput"]
    many = both["throughput"]
    return {"single": {"compute_only_img_s": round(one["compute_only"], 1), "end_to_end_img_s": round(one["end_to_end"], 1)},
            "multi": {"compute_only_img_s": round(many["compute_only"], 1), "end_to_end_img_s": round(many["end_to_end"], 1),
                      "per_device": many.get("per_device")},
            "scaling_compute_only": round(many["compute_only"] / one["compute_only"], 3),
            "scaling_end_to_end": round(many["end_to_end"] / one["end_to_end"], 3)}
