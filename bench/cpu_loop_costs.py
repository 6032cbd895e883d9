"""Where dataset mode's time goes on the CPU target: one ONNX Runtime session, blocks of batches
alternated in one process so the machine's drift hits every variant alike, median ms per batch:

  pure        the same input buffer every batch (what `infer` without --input does)
  buffers     six pre-filled buffers in turn (inputs that are not already in the CPU caches)
  read        .bin files read ahead by the loop's reader threads (infer/readers.py)
  read+BIN    the same, outputs written as BIN by the loop's writer (infer/writers.py)
  read+TXT    the same with TXT outputs

and, on the loop's own thread without inference, the CPU time of reading and of writing one batch, and
of formatting a batch's TXT with the array formatter against value by value ('%f ' in Python).

    python bench/cpu_loop_costs.py --model work/bench/lite0-cpu --bins work/bench/prep-lite0 [--rounds 12]

(bench/cpu_target.py makes both directories.) Outputs go to fresh directories beside --bins that are
left there (the last line says where): on ext4 without a journal, deleting thousands of files makes
creating new ones slow for minutes (docs/cpu.md), which would spoil the next measurement.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.contracts import ConvertManifest, numpy_dtype  # noqa: E402
from infer.dataset import list_bin_files, plan_batches, read_batch  # noqa: E402
from infer.readers import Reader  # noqa: E402
from harness.txt_format import per_value_txt, txt_per_input  # noqa: E402
from harness.output_formats import output_format, output_names  # noqa: E402
from infer.writers import OutputWriter, write_batch  # noqa: E402
from targets import get_target  # noqa: E402


def thread_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return (usage.ru_utime + usage.ru_stime) * 1000


class Variants:
    def __init__(self, model: Path, bins: Path, block: int, scratch: Path) -> None:
        manifest = ConvertManifest.read(model)
        self.session = get_target("cpu").open(model / manifest.artifact, manifest)
        spec = self.session.inputs()[0]
        self.shape, self.dtype = spec.batch_shape(8), numpy_dtype(spec.dtype)
        self.groups = plan_batches(list_bin_files(bins, spec), 8)
        rng = np.random.default_rng(0)
        self.buffers = [rng.standard_normal(self.shape, dtype=np.float32).astype(self.dtype) for _ in range(6)]
        self.block, self.scratch, self.start = block, scratch, 0
        self.session.warmup(self.buffers[0], 3)

    def next_groups(self) -> list:
        groups = self.groups[self.start:self.start + self.block]
        self.start = (self.start + self.block) % (len(self.groups) - self.block)
        return groups

    def pure(self) -> float:
        start = time.perf_counter()
        for _ in range(self.block):
            self.session.run(self.buffers[0])
        return (time.perf_counter() - start) * 1000 / self.block

    def rotating(self) -> float:
        start = time.perf_counter()
        for i in range(self.block):
            self.session.run(self.buffers[i % len(self.buffers)])
        return (time.perf_counter() - start) * 1000 / self.block

    def dataset(self, outfmt: str | None, phased: bool = False) -> float:
        """phased: read each batch and write its outputs while the target waits, never beside it."""
        reader = Reader(self.shape, self.dtype, 6, np.empty)
        writer = OutputWriter(Path(tempfile.mkdtemp(dir=self.scratch)), outfmt) if outfmt else None
        groups = self.next_groups()
        start = time.perf_counter()
        for batch in reader.batches(groups, 1 if phased else 3):
            outputs = self.session.run(batch.data)
            reader.give(batch.data)
            if writer:
                writer.submit(batch.stems, outputs, batch.index)
                if phased:
                    writer.drain()
        if writer:
            writer.drain()
        elapsed = (time.perf_counter() - start) * 1000 / len(groups)
        reader.close()
        if writer:
            writer.close()
        return elapsed

    def io_cpu(self) -> dict:
        """CPU ms per batch of the loop's own thread: reading 8 files, writing 8 outputs each way."""
        data = np.empty(self.shape, self.dtype)
        groups = self.next_groups()
        outputs = self.session.run(self.buffers[0])
        before = thread_cpu_ms()
        for index, group in enumerate(groups):
            read_batch(index, group, data)
        cost = {"read": (thread_cpu_ms() - before) / len(groups)}
        for outfmt in ("BIN", "TXT"):
            directory = tempfile.mkdtemp(dir=self.scratch)
            before = thread_cpu_ms()
            for index, group in enumerate(groups):
                names = output_names([f"{index}_{i}" for i in range(len(group))], len(outputs),
                                     output_format(outfmt))
                write_batch(directory, outfmt, names, outputs)
            cost[f"write_{outfmt}"] = (thread_cpu_ms() - before) / len(groups)
        logits = outputs[0]
        for name, format_batch in (("format_TXT_arrays", txt_per_input),
                                   ("format_TXT_per_value", lambda b: [per_value_txt(row[None]) for row in b])):
            before = thread_cpu_ms()
            for _ in groups:
                format_batch(logits)
            cost[name] = (thread_cpu_ms() - before) / len(groups)
        return cost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="a cpu-target convert directory (batch 8)")
    p.add_argument("--bins", type=Path, required=True, help="preprocessed .bin files for that model")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--block", type=int, default=25, help="batches per variant and round")
    args = p.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="loop-costs-", dir=args.bins.parent))
    v = Variants(args.model, args.bins, args.block, scratch)
    runs = {"pure": v.pure, "buffers": v.rotating, "read": lambda: v.dataset(None),
            "read+BIN": lambda: v.dataset("BIN"), "read+TXT": lambda: v.dataset("TXT"),
            "phased read": lambda: v.dataset(None, True), "phased BIN": lambda: v.dataset("BIN", True),
            "phased TXT": lambda: v.dataset("TXT", True)}
    ms: dict[str, list[float]] = {name: [] for name in runs}
    io: list[dict] = []
    for _ in range(args.rounds):
        for name, run in runs.items():
            ms[name].append(run())
        io.append(v.io_cpu())
    result = {"threads": v.session.info()["threads"], "rounds": args.rounds, "block": args.block, "variants": {}}
    for name, values in ms.items():
        ratio = statistics.median(p / x for p, x in zip(ms["pure"], values))
        result["variants"][name] = {"median_ms": statistics.median(values), "pure_over_this": ratio}
        print(f"{name:12s} {statistics.median(values):7.2f} ms per batch, pure / this {ratio:.3f} (median of "
              f"{args.rounds} paired rounds)")
    result["io_cpu_ms"] = {key: statistics.median(c[key] for c in io) for key in io[0]}
    print("CPU ms per batch of 8 on one thread: " + ", ".join(f"{k} {v:.3f}" for k, v in result["io_cpu_ms"].items()))
    print(f"outputs left in {scratch}")
    print(json.dumps({"bench": "cpu_loop_costs", **result}))


if __name__ == "__main__":
    main()
