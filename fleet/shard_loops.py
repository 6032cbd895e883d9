"""What a sharded cell's combined throughput measured: its shards start when Ray places them, with no start barrier
(a CPU shard even waits for the machine's other timed CPU runs), so their timed loops need not have run at once.

The merged summary adds the shards' compute-only rates and divides all images by the span of their loops (or, with
no clock the shards share, by the longest shard's walltime). Those are figures of devices running side by side
only where the loops did; otherwise the summary's warning says what each figure is, and the report shows it beside
them.
"""
from __future__ import annotations

from fleet.matrix import DEVICE_RESOURCES
from harness.contracts import InferSummary
from infer.multi import SIDE_BY_SIDE_SHARE, ran_side_by_side, timed_loops

SIDE_BY_SIDE = "side by side"  # the loops ran together for SIDE_BY_SIDE_SHARE of the shortest one at least
APART = "apart"  # one clock shows they did not
UNKNOWN = "unknown"  # no clock the shards share (other machines, or a summary without its loop's times)


def physical_device(target: str, result: dict) -> str:
    """The device a shard's timed loop ran on, one name per piece of hardware: a GPU by the id Ray gave the task
    (its stages see it as device 0), an NPU by its index, and for the cpu and null targets the machine's CPU."""
    node = result.get("node") or {}
    resource = DEVICE_RESOURCES.get(target, (None, None))[0]
    if resource is None:
        return f"{node.get('hostname')} CPU"
    ids = (node.get("accelerator_ids") or {}).get(resource) or [result.get("device")]
    return f"{node.get('hostname')} {resource} {','.join(map(str, ids))}"


def device_names(results: list[dict]) -> list[str]:
    """Each shard's device as the merged summary names it (node and device index), one name per shard: shards that
    ran on one device (two CPU shards of one machine) each keep their own figures under their own name."""
    names = [f"{r['node']['hostname']}:{r['node']['node_id'][:8]}:{r['device']}" for r in results]
    if len(set(names)) < len(names):
        names = [f"{name}/shard{r['shard'][0]}" for name, r in zip(names, results)]
    return names


def shared_devices(target: str, results: list[dict]) -> list[str]:
    """The devices more than one shard ran on."""
    devices = [physical_device(target, r) for r in results]
    return sorted({d for d in devices if devices.count(d) > 1})


def shard_loops(parts: list[InferSummary]) -> dict:
    """How the shards' timed loops lay on one time line: {"overlap": side by side / apart / unknown, and, where
    known, "together_s" (seconds all of them ran at once) and "shortest_s"}."""
    loops = timed_loops(parts)
    if loops is None:
        return {"overlap": UNKNOWN}
    together = max(0.0, min(e for _, e in loops) - max(s for s, _ in loops))
    shortest = min(e - s for s, e in loops)
    return {"overlap": SIDE_BY_SIDE if ran_side_by_side(loops) else APART, "together_s": round(together, 6),
            "shortest_s": round(shortest, 6)}


def label(overlap: dict, shards: int, shared: list[str] = ()) -> str:
    """The label of a merged cell whose loops were not shown to run side by side, or that ran several shards on one
    device; '' where neither."""
    if shared:
        return (f"{shards} shards, several of them on one device ({'; '.join(shared)}): "
                "compute-only is the sum of the rates each shard reached on its own, so it counts that device once "
                "per shard, and is no rate of several devices; end-to-end is all images over the span from the first "
                "loop's start to the last one's end")
    if overlap["overlap"] == SIDE_BY_SIDE:
        return ""
    if overlap["overlap"] == APART:
        share = overlap["together_s"] / overlap["shortest_s"] if overlap["shortest_s"] > 0 else 0.0
        return (f"{shards} shards whose timed loops did not run side by side ({share * 100:.0f}% of the shortest "
                f"ran together, under the {SIDE_BY_SIDE_SHARE * 100:.0f}% that counts as at once; fleet shards start "
                "with no start barrier): compute-only is the sum of the rates each shard reached on its own, not a "
                "rate they reached together; end-to-end is all images over the span from the first loop's start to "
                "the last one's end")
    return (f"{shards} shards on machines with no shared clock, started with no start barrier: whether their timed "
            "loops overlapped is not known; compute-only is the sum of the rates each shard reached on its own, "
            "end-to-end and average watts take the loops as running at once (all images over the longest shard's "
            "walltime)")


def mark_shard_loops(merged: InferSummary, parts: list[InferSummary], target: str, results: list[dict]) -> str:
    """Record in `merged` how its shards' loops overlapped and which device each ran on, and label its combined
    figures where they were not shown to be devices side by side. Returns the label ('' when none)."""
    overlap = shard_loops(parts)
    merged.extra["shard_loops"] = {**overlap, "devices": [physical_device(target, r) for r in results]}
    text = label(overlap, len(parts), shared_devices(target, results))
    if text:  # a warning, shown beside the throughput figures; the run's labels go with its accuracy too
        merged.extra["warning"] = "; ".join(filter(None, [merged.extra.get("warning"), text]))
    return text


def shards_that_ran(parts: list[InferSummary], results: list[dict]) -> tuple[list[InferSummary], list[dict], str]:
    """The shards that had a batch to run, with their results, and a warning naming those that had none (more
    shards than batches: batches are dealt out whole), '' when every one ran. A shard that ran nothing is no device
    of the run: counted, it would make one device's figures read as several's."""
    ran = [(part, result) for part, result in zip(parts, results) if part.num_batches > 0]
    if len(ran) in (0, len(parts)):
        return parts, results, ""
    idle = [str(result["shard"][0]) for part, result in zip(parts, results) if part.num_batches == 0]
    batches = sum(part.num_batches for part, _ in ran)
    warning = (f"shard{'s' if len(idle) > 1 else ''} {', '.join(idle)} of {len(parts)} had no batch to run (the "
               f"inputs make {batches} batch{'es' if batches != 1 else ''} of {parts[0].batch_size}) and "
               f"{'are' if len(idle) > 1 else 'is'} not counted among the devices; ask for at most {batches} shards")
    return [part for part, _ in ran], [result for _, result in ran], warning
