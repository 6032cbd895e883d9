"""What readers (report, compare, postprocess) take from a run summary's free-form dicts, declared once.

`engine` is what the target said about itself and `extra` what the loop added; both vary by target and
version. Readers use these properties, never the dicts' keys, so each key read is declared here and a
change of key is one edit.
"""
from __future__ import annotations

# Keys of `engine` holding a library version, and settings that change the numbers.
ENGINE_VERSION_KEYS = ("torch", "onnxruntime", "tensorrt", "cuda", "cann", "ais_bench", "aclruntime", "provider")
ENGINE_SETTING_KEYS = ("input_form", "tf32_allowed", "threads", "in_flight_max", "gears", "runtime")
# Up to this many timed batches, the interpolated 99th percentile falls between the two slowest batches.
P99_BATCHES = 100


def few_batches_p99_note(count: object) -> str:
    """What a p99 of `count` batches is where they are too few for it to be more than the slowest ones ('' else)."""
    if isinstance(count, bool) or not isinstance(count, (int, float)) or not 0 < count <= P99_BATCHES:
        return ""
    if count < 2:
        return "p99 of 1 batch: that batch"
    return f"p99 of {int(count)} batches: between the two slowest"


class SummaryViews:
    """Mixed into harness.contracts.InferSummary, whose fields `engine`, `extra`, `timings` and `throughput`
    these read."""

    engine: dict
    extra: dict
    timings: dict
    throughput: dict
    batch_size: int
    num_batches: int
    padded_slots: int

    @property
    def simulated(self) -> bool:
        """Run on a simulated runtime: its outputs count, its timings do not."""
        return bool(self.engine.get("simulated"))

    @property
    def run_labels(self) -> list[str]:
        """What the numbers do not mean (random weights, preprocess mismatch, calibration overlap)."""
        return [str(label) for label in self.extra.get("labels") or []]

    @property
    def host_in_compute(self) -> dict | None:
        """How much of the compute time may be the device waiting for the host (harness.perf.host_time_in_compute):
        {"batches", "of", "max_ms", "total_ms", "compute_ms", "share_of_compute"}; None where the target cannot
        tell."""
        info = self.extra.get("host_in_compute")
        return info if isinstance(info, dict) else None

    @property
    def timing_labels(self) -> list[str]:
        """What the timings do not mean: compute-only time that may hold host time (above harness.perf's share),
        compute-only counting padded rows (above harness.stats' share), a median that did not reach the
        --stable_ci asked for, end-to-end over repeated inputs, timings of the part of a run left after a resume."""
        return [label for label in (self._host_time_label(), self._padding_label(), self._unstable_median_label(),
                                    self._repeated_inputs_label(), self._resumed_label()) if label]

    @property
    def percentile_label(self) -> str:
        """Said beside a p99 of the compute times taken from too few batches ('' otherwise)."""
        return few_batches_p99_note(self.compute_stats.get("count"))

    def _host_time_label(self) -> str:
        from harness.perf import host_time_exceeds

        info = self.host_in_compute
        if info is None or not host_time_exceeds(info):
            return ""
        return (f"compute-only may include host time (up to {float(info['share_of_compute']) * 100:.1f}%, in "
                f"{info.get('batches')} of {info.get('of')} batches)")

    def _padding_label(self) -> str:
        from harness.stats import PADDED_SHARE_SHOWN, padded_share

        share = padded_share(self.padded_slots, self.num_batches, self.batch_size)
        if share <= PADDED_SHARE_SHOWN:
            return ""
        return f"compute-only counts padded rows ({share * 100:.1f}% of the rows run)"

    def _repeated_inputs_label(self) -> str:
        """Dataset --loop N: every run counts, but each input was read and its output written once, so the
        end-to-end figure is not that of N times the data."""
        runs = self.extra.get("runs_per_input")
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 2:
            return ""
        return f"end-to-end over {runs} runs of each input (each read and written once)"

    def _resumed_label(self) -> str:
        """A run resumed after an interruption: its timings are those of the inputs its last process ran."""
        before = self.extra.get("resumed_after")
        if isinstance(before, bool) or not isinstance(before, int) or before < 1:
            return ""
        return (f"timed over {self.num_inputs} of {self.num_inputs + before} inputs (resumed: {before} written "
                "before an interruption, untimed)")

    def _unstable_median_label(self) -> str:
        median_ci = self.extra.get("median_ci95")
        if not isinstance(median_ci, dict) or median_ci.get("stable", True) is not False:
            return ""
        return f"median not stable: 95% CI {half_width_text(median_ci.get('reached'))}, --stable_ci asked " \
               f"{half_width_text(median_ci.get('asked'))}"

    @property
    def device_idle(self) -> dict | None:
        """The device check before the run (harness.idle): {"idle", "busy", "method", ...}."""
        idle = self.extra.get("device_idle")
        return idle if isinstance(idle, dict) else None

    @property
    def calibration_left_out(self) -> list[str]:
        """Stems of the images that calibrated an int8 build: parity leaves them out."""
        return list(self.extra.get("calibration_left_out") or [])

    @property
    def peak_memory_mib(self) -> dict:
        """{"host_peak_rss_mib", "device_peak_mib"} where the infer stage or the target recorded them."""
        nested = self.extra.get("memory") or {}
        host = nested.get("host_peak_rss_mib", self.extra.get("host_peak_rss_mib"))
        device = nested.get("device_peak_mib", self.engine.get("peak_device_memory_mib",
                                                                self.engine.get("device_peak_mib")))
        return {k: v for k, v in (("host_peak_rss_mib", host), ("device_peak_mib", device)) if v is not None}

    @property
    def compute_stats(self) -> dict:
        """harness.stats.summarize_ms of the per-batch compute times."""
        return dict(self.timings.get("compute") or {})

    @property
    def img_s_compute(self) -> float | None:
        return self.throughput.get("compute_only")

    @property
    def img_s_end_to_end(self) -> float | None:
        return self.throughput.get("end_to_end") or None  # 0 means not measured

    @property
    def software(self) -> str:
        """The software stack in short: 'torch 2.11.0 (variant x), cuda 13.0'."""
        name = self.engine.get("engine")
        head = str(name or "")
        if name and isinstance(self.engine.get(name), str):
            head = f"{name} {self.engine[name]}"
        if self.engine.get("variant"):
            head += f" (variant {self.engine['variant']})"
        parts = [head] if head else []
        for key in ENGINE_VERSION_KEYS:
            if key != name and self.engine.get(key) is not None:
                parts.append(f"{key} {self.engine[key]}")
        for key, value in (self.engine.get("versions") or {}).items():
            if key != name and key not in ENGINE_VERSION_KEYS:
                parts.append(f"{key} {value}")
        return ", ".join(parts) or "unknown"

    @property
    def settings(self) -> list[str]:
        """Settings that change the numbers: CUDA graph use at this batch size, TF32, threads, overlap."""
        parts = []
        graphs = self.engine.get("cuda_graphs")
        if isinstance(graphs, dict) and str(self.batch_size) in graphs:
            parts.append(f"CUDA graph: {graphs[str(self.batch_size)]}")
        parts += [f"{key}={self.engine[key]}" for key in ENGINE_SETTING_KEYS if key in self.engine]
        return parts


def half_width_text(value: object) -> str:
    """A relative half-width as '+-1.5%' (two significant digits, whole percents from 100 on), 'unknown' where
    there is no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "unknown"
    percent = value * 100
    return f"+-{percent:.2g}%" if percent < 100 else f"+-{percent:.0f}%"
