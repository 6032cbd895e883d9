"""Simulated `python -m ais_bench` (tests only): the file naming and summary formats of section 6.

Writes `<output>/<dirname>/<stem>_<k>.<fmt>` per input file (padding slots write nothing) and the
summary JSON: `<output>/<dirname>_summary.json` beside the result directory, or, with
ASCEND_SIM_SUMMARY=inside (old ais_infer), `sumary.json` inside it with the older log wording.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time

import numpy as np

from ais_bench.infer.interface import InferSession, MemorySummary

logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s", stream=sys.stdout)
logger = logging.getLogger("ais_bench")


def str2bool(text: str) -> bool:
    return str(text).lower() in ("yes", "true", "t", "y", "1")


def get_args(argv):
    parser = argparse.ArgumentParser(prog="ais_bench")
    parser.add_argument("--model", "-m", required=True)
    parser.add_argument("--input", "-i")
    parser.add_argument("--output", "-o")
    parser.add_argument("--output_dirname")
    parser.add_argument("--outfmt", default="BIN", choices=["NPY", "BIN", "TXT"])
    parser.add_argument("--loop", "-l", type=int, default=1)
    parser.add_argument("--warmup_count", type=int, default=1)
    parser.add_argument("--device", "-d", type=int, default=0)
    parser.add_argument("--dymBatch", type=int, default=0)
    parser.add_argument("--batchsize", type=int, default=None)
    parser.add_argument("--display_all_summary", type=str2bool, default=False)
    return parser.parse_args(argv)


def natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def save(path: str, array: np.ndarray, outfmt: str) -> None:
    if outfmt == "NPY":
        np.save(path, array)
    elif outfmt == "BIN":
        array.tofile(path)
    else:
        fmt = "%f" if array.dtype in (np.float16, np.float32, np.float64) else "%d"
        with open(path, "wb") as handle:
            for row in array.reshape(-1, array.shape[-1]):
                np.savetxt(handle, np.c_[row], fmt=fmt, newline=" ")
                handle.write(b"\n")


def stats(values: list) -> dict:
    if not values:
        return {"min": 0.0, "max": 0.0, "mean": 0.0, "median": 0.0, "percentile(99%)": 0.0, "count": 0}
    return {"min": float(np.min(values)), "max": float(np.max(values)), "mean": float(np.mean(values)),
            "median": float(np.median(values)), "percentile(99%)": float(np.percentile(values, 99)),
            "count": len(values)}


def durations(session) -> list:
    summary = session.summary() if hasattr(session, "summary") else session.sumary()
    return [e[1] - e[0] if isinstance(e, (tuple, list)) else e for e in summary.exec_time_list]


def reset(session) -> None:
    (getattr(session, "reset_summaryinfo", None) or getattr(session, "reset_sumaryinfo"))()
    MemorySummary.reset()


def transfers() -> tuple[list, list]:
    h2d = getattr(MemorySummary, "get_h2d_time_list", None) or getattr(MemorySummary, "get_H2D_time_list")
    d2h = getattr(MemorySummary, "get_d2h_time_list", None) or getattr(MemorySummary, "get_D2H_time_list")
    return list(h2d()), list(d2h())


def batches(files: list, per_batch: int):
    for start in range(0, len(files), per_batch):
        chunk = files[start:start + per_batch]
        yield chunk + [None] * (per_batch - len(chunk))


def run(args, session, prefix, info: dict) -> dict:
    desc = session.get_inputs()[0]
    mode = "dymbatch" if args.dymBatch else "static"
    if args.dymBatch:
        session.set_dynamic_batchsize(args.dymBatch)
        desc = session.get_inputs()[0]
    files = sorted((f for f in os.listdir(args.input) if f.lower().endswith(".bin")), key=natural_key) \
        if args.input else ["pure_infer_data"]
    size = os.path.getsize(os.path.join(args.input, files[0])) if args.input else desc.realsize
    per_batch = desc.realsize // size
    shape = [desc.realsize // (np.dtype(desc.datatype.name).itemsize * int(np.prod(desc.shape[1:])))] + desc.shape[1:]
    times = {"compute": [], "h2d": [], "d2h": []}
    for index, chunk in enumerate(batches(files, per_batch)):
        if args.input:
            data = b"".join(open(os.path.join(args.input, f or chunk[0]), "rb").read() for f in chunk)
        else:
            data = bytes(desc.realsize)
        feed = np.frombuffer(data, dtype=desc.datatype.name).reshape(shape)
        if index == 0:
            for _ in range(args.warmup_count):
                session.infer([feed], mode=mode)
        reset(session)
        for _ in range(args.loop):
            outputs = session.infer([feed], mode=mode)
        times["compute"] += durations(session)
        h2d, d2h = transfers()
        times["h2d"] += h2d
        times["d2h"] += d2h
        for k, out in enumerate(outputs):
            for j, (name, part) in enumerate(zip(chunk, np.array_split(out, per_batch, axis=0))):
                if name is None or prefix is None:
                    continue
                out_path = os.path.join(prefix, f"{name.split('.')[0]}_{k}.{args.outfmt.lower()}")
                save(out_path, part, args.outfmt)
                entry = info.setdefault(str(index * per_batch + j), {"infiles": [name], "outfiles": []})
                entry["outfiles"].append(out_path)
    return times


def report(args, times: dict, batchsize: int, prefix, filesinfo: dict, argv: list) -> None:
    inside = os.environ.get("ASCEND_SIM_SUMMARY") == "inside"
    compute, h2d, d2h = stats(times["compute"]), stats(times["h2d"]), stats(times["d2h"])
    throughput = 1000 * batchsize / compute["mean"] if compute["mean"] else 0
    logger.info("-----------------Performance Summary------------------")
    line = "{} (ms): min = {}, max = {}, mean = {}, median = {}, percentile(99%) = {}"
    keys = ("min", "max", "mean", "median", "percentile(99%)")
    if inside or args.display_all_summary:
        logger.info(line.format("H2D_latency", *[h2d[k] for k in keys]))
    logger.info(line.format("NPU_compute_time", *[compute[k] for k in keys]))
    if inside or args.display_all_summary:
        logger.info(line.format("D2H_latency", *[d2h[k] for k in keys]))
    if inside:
        logger.info(f"throughput 1000*batchsize({batchsize})/NPU_compute_time.mean({compute['mean']}): {throughput}")
    else:
        logger.info(f"throughput 1000*batchsize.mean({batchsize})/NPU_compute_time.mean({compute['mean']}): "
                    f"{throughput}")
    logger.info("------------------------------------------------------")
    if prefix is None:
        return
    data = {"filesinfo": filesinfo, "args": argv, "NPU_compute_time": compute, "H2D_latency": h2d,
            "D2H_latency": d2h, "throughput": throughput}
    if inside:
        for key in ("NPU_compute_time", "H2D_latency", "D2H_latency"):
            data[key].pop("count")
        path = os.path.join(prefix, "sumary.json")
    else:
        data.update({"npu_compute_time_list": times["compute"], "pid": os.getpid()})
        path = prefix + "_summary.json"
    with open(path, "w") as handle:
        json.dump(data, handle)


def main(argv) -> int:
    args = get_args(argv)
    session = InferSession(args.device, args.model, loop=1)
    prefix = None
    if args.output:
        prefix = os.path.join(args.output, args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S"))
        os.makedirs(prefix, mode=0o750, exist_ok=True)
    filesinfo: dict = {}
    times = run(args, session, prefix, filesinfo)
    desc = session.get_inputs()[0]
    batchsize = args.batchsize or (args.dymBatch or desc.shape[0])
    report(args, times, batchsize, prefix, filesinfo, ["ais_bench", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
