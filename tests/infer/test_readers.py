"""infer's input side: threads and worker processes read the same bytes; the null target as a device."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ContractError, InputError
from tests.conftest import assert_one_line_error, make_convert_dir, run_cli, write_bins


def expected_batches(data: dict[str, np.ndarray], batch: int) -> list[np.ndarray]:
    """Files in order, grouped, the last group padded with its first row (ais_bench's rule)."""
    arrays = [data[f"img_{i}"] for i in range(len(data))]
    out = []
    for start in range(0, len(arrays), batch):
        group = arrays[start:start + batch]
        out.append(np.stack(group + [group[0]] * (batch - len(group))))
    return out


def open_inputs(io: str, groups, shape, registered: list, released: list, out_dir=None, outfmt="BIN"):
    from harness.contracts import TensorSpec
    from infer.io_workers import IOWorkers
    from infer.readers import Reader

    def register(block: np.ndarray):
        registered.append(block.nbytes)
        return lambda: released.append(block.nbytes)

    if io == "threads":
        return Reader(shape, np.dtype("float32"), 6, lambda s, d: np.empty(s, d))
    spec_in = TensorSpec("image", [-1, *shape[1:]])
    spec_out = TensorSpec("class", [-1, 10])
    return IOWorkers(groups, spec_in, [spec_out], shape[0], 6, out_dir, outfmt, 2, register)


def sorted_bins(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.bin"), key=lambda p: int(p.stem.split("_")[1]))


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_inputs_are_the_files_bytes_in_order_with_padding(tmp_path, io, monkeypatch):
    from infer import readers
    from infer.dataset import plan_batches

    row = 3 * 8 * 8 * 4
    monkeypatch.setattr(readers, "CHUNK_BYTES", 2 * row)  # two rows per task, threads and processes alike
    data = write_bins(tmp_path / "bins", 11)
    groups = plan_batches(sorted_bins(tmp_path / "bins"), 5)
    registered, released = [], []
    inputs = open_inputs(io, groups, (5, 3, 8, 8), registered, released)
    got = []
    try:
        for batch in inputs.batches(groups, ahead=3):
            got.append((batch.index, batch.stems, batch.data.copy()))
            inputs.give(batch.data)
    finally:
        inputs.close()
    assert [g[0] for g in got] == [0, 1, 2]
    assert got[2][1] == ["img_10"]
    for (_, _, array), want in zip(got, expected_batches(data, 5)):
        assert np.array_equal(array, want)
    if io == "processes":  # one shared block offered to the target, released at close
        assert len(registered) == 1 and registered[0] >= 6 * row * 5 and released == registered
    else:
        assert registered == []


def test_io_workers_write_what_the_writer_threads_write(tmp_path):
    from infer.dataset import plan_batches
    from infer.writers import OutputWriter

    write_bins(tmp_path / "bins", 7)
    groups = plan_batches(sorted_bins(tmp_path / "bins"), 4)
    rng = np.random.default_rng(5)
    outputs = [[rng.standard_normal((4, 10)).astype(np.float32)] for _ in groups]
    for fmt in ("TXT", "BIN", "NPY"):
        (tmp_path / fmt / "w").mkdir(parents=True)
        (tmp_path / fmt / "t").mkdir()
        workers = open_inputs("processes", groups, (4, 3, 8, 8), [], [], tmp_path / fmt / "w", fmt)
        threads = OutputWriter(tmp_path / fmt / "t", fmt)
        try:
            for index, group in enumerate(groups):
                stems = [p.stem for p in group]
                workers.submit(stems, outputs[index], index)
                threads.submit(stems, outputs[index], index)
            workers.drain()
            threads.drain()
        finally:
            workers.close()
            threads.close()
        names = sorted(p.name for p in (tmp_path / fmt / "t").iterdir())
        assert names == sorted(f"img_{i}_0.{fmt.lower()}" for i in range(7))
        assert sorted(p.name for p in (tmp_path / fmt / "w").iterdir()) == names
        for name in names:
            assert (tmp_path / fmt / "w" / name).read_bytes() == (tmp_path / fmt / "t" / name).read_bytes()
        assert workers.files == threads.files


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_a_file_that_changed_size_stops_the_read_naming_it(tmp_path, io):
    from infer.dataset import plan_batches

    write_bins(tmp_path / "bins", 4)
    files = sorted_bins(tmp_path / "bins")
    files[2].write_bytes(b"short")  # after listing: as if another process rewrote it
    groups = plan_batches(files, 2)
    inputs = open_inputs(io, groups, (2, 3, 8, 8), [], [])
    try:
        with pytest.raises(ContractError, match=f"{files[2].name}: 5 bytes read"):
            for batch in inputs.batches(groups, ahead=2):
                inputs.give(batch.data)
    finally:
        inputs.close()


@pytest.mark.parametrize("signum", ["SIGINT", "SIGKILL"])
def test_an_io_worker_that_ends_is_an_interruption_only_when_ctrl_c_ended_it(tmp_path, signum):
    import os
    import signal

    from harness.errors import WorkerLost
    from infer.dataset import plan_batches

    write_bins(tmp_path / "bins", 8)
    groups = plan_batches(sorted_bins(tmp_path / "bins"), 2)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a foreground run: workers leave on it
    try:
        inputs = open_inputs("processes", groups, (2, 3, 8, 8), [], [])
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        victim = inputs._procs[0]
        os.kill(victim.pid, getattr(signal, signum))
        victim.join(timeout=10)
        with pytest.raises(KeyboardInterrupt if signum == "SIGINT" else WorkerLost):
            for batch in inputs.batches(groups, ahead=2):
                inputs.give(batch.data)
    finally:
        inputs.close()


def test_io_choice_follows_cores_and_shared_memory(monkeypatch):
    from infer import readers

    monkeypatch.setattr(readers, "shared_memory_room", lambda nbytes: True)
    monkeypatch.setattr(readers, "usable_cores", lambda: 2)
    assert readers.choose_io("auto", 1 << 20) == "threads"
    monkeypatch.setattr(readers, "usable_cores", lambda: 16)
    assert readers.choose_io("auto", 1 << 20) == "processes"
    assert readers.choose_io("threads", 1 << 20) == "threads"
    monkeypatch.setattr(readers, "shared_memory_room", lambda nbytes: False)
    assert readers.choose_io("auto", 1 << 20) == "threads"
    with pytest.raises(InputError, match="--io threads"):
        readers.choose_io("processes", 1 << 20)


def test_dataset_mode_writes_the_same_outputs_with_either_io(tmp_path):
    model = make_convert_dir(tmp_path / "model", batch=4)
    write_bins(tmp_path / "bins", 9)
    for io in ("threads", "processes"):
        proc = run_cli("-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"), "--output",
                       str(tmp_path / "res"), "--output_dirname", io, "--outfmt", "BIN", "--io", io)
        assert proc.returncode == 0, proc.stderr
    a, b = (sorted((tmp_path / "res" / io).glob("*.bin")) for io in ("threads", "processes"))
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 9
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_end_to_end_time_includes_writing_the_last_outputs(tmp_path, io):
    from harness.contracts import ConvertManifest
    from infer.loop import run_dataset
    from targets import get_target

    model = make_convert_dir(tmp_path / "null", target="null", batch=4)
    write_bins(tmp_path / "bins", 10)
    manifest = ConvertManifest.read(model)
    out = tmp_path / "out"
    out.mkdir()
    files = sorted((tmp_path / "bins").glob("*.bin"))
    with get_target("null").open(model / manifest.artifact, manifest) as session:
        result = run_dataset(session, files, 4, out, "BIN", warmup_count=0, progress=False, io=io)
        on_return = sorted(p.name for p in out.glob("*.bin"))
    assert on_return == sorted(f"{f.stem}_0.bin" for f in files)  # the loop waited for the last ones
    assert result.images == 10 and result.io == io and result.batches == 3
    phases = dict(result.phases)
    assert phases.pop("gc_pauses") >= 0  # collections overlap the phases below, which add up to the wall
    assert set(phases) == {"wait_inputs", "submit", "collect", "queue_outputs", "wait_outputs"}
    assert sum(phases.values()) == pytest.approx(result.wall_s, rel=0.05, abs=0.005)


def test_null_target_emulates_a_device_queue(tmp_path):
    from harness.contracts import ConvertManifest
    from targets import get_target

    model = make_convert_dir(tmp_path / "null", target="null", batch=2)
    manifest = ConvertManifest.read(model)
    batch = np.ones((2, 3, 8, 8), np.float32)
    with get_target("null", compute_ms="40").open(model / manifest.artifact, manifest) as session:
        start = time.perf_counter()
        handles = [session.submit(batch) for _ in range(3)]  # queued behind each other, host not blocked
        queued = time.perf_counter() - start
        outputs = [session.collect(h) for h in handles]
        wall = time.perf_counter() - start
    assert queued < 0.04
    assert 0.119 <= wall < 0.4
    assert [t.compute_ms for t in session.timings] == pytest.approx([40.0] * 3)
    assert outputs[0][0].shape == (2, 10)


def test_null_target_refuses_a_bad_compute_time(tmp_path):
    model = make_convert_dir(tmp_path / "null", target="null", batch=2)
    write_bins(tmp_path / "bins", 2)
    assert_one_line_error(run_cli("-m", "infer", "--model", str(model), "--input", str(tmp_path / "bins"),
                                  "--option", "compute_ms=fast"), "compute_ms=fast", "milliseconds")


def test_timed_loops_run_with_the_earlier_heap_frozen(tmp_path):
    import gc

    from harness.contracts import ConvertManifest
    from infer.loop import run_dataset, run_pure
    from targets.null.target import NullSession

    model = make_convert_dir(tmp_path / "null", target="null", batch=2)
    write_bins(tmp_path / "bins", 4)
    manifest = ConvertManifest.read(model)
    frozen_during = []

    class Recording(NullSession):
        def _submit_impl(self, handle, batch):
            frozen_during.append(gc.get_freeze_count())
            super()._submit_impl(handle, batch)

    with Recording(manifest) as session:
        run_pure(session, 2, loop=3, warmup_count=0)
        run_dataset(session, sorted((tmp_path / "bins").glob("*.bin")), 2, None, "BIN", warmup_count=0,
                    progress=False, io="threads")
    assert len(frozen_during) == 5 and min(frozen_during) > 0  # objects from before the loops were frozen
    assert gc.get_freeze_count() == 0  # and released afterwards


def test_warmup_keeps_as_many_batches_in_flight_as_the_timed_loops(tmp_path):
    """Buffers a target makes on first use (the nvidia session's pinned slots) must exist before timing starts,
    and warm-up must not need more of them than the loop does (a session may allow no more)."""
    from harness.contracts import ConvertManifest
    from infer.loop import run_dataset, run_pure
    from targets.null.target import NullSession

    model = make_convert_dir(tmp_path / "null", target="null", batch=2)
    write_bins(tmp_path / "bins", 8)
    manifest = ConvertManifest.read(model)

    class Counting(NullSession):
        def __init__(self, *args):
            super().__init__(*args)
            self.most = {"warm-up": 0, "timed": 0}
            self.max_in_flight = 3  # what a session with three buffer sets takes

        def warmup(self, *args, **kwargs):
            super().warmup(*args, **kwargs)
            self.most["warm-up"], self.most["timed"] = self.most["timed"], 0

        def _submit_impl(self, handle, batch):
            self.most["timed"] = max(self.most["timed"], len(self._pending))
            assert len(self._pending) <= self.max_in_flight, "more batches in flight than the session takes"
            super()._submit_impl(handle, batch)

    files = sorted((tmp_path / "bins").glob("*.bin"))
    runs = {"pure": lambda s: run_pure(s, 2, loop=6, warmup_count=1),
            "dataset": lambda s: run_dataset(s, files, 2, None, "BIN", warmup_count=1, progress=False, io="threads"),
            "dataset --loop 2": lambda s: run_dataset(s, files, 2, None, "BIN", warmup_count=1, progress=False,
                                                      io="threads", loop=2)}
    for name, run in runs.items():
        with Counting(manifest) as session:
            run(session)
        assert session.most["warm-up"] == session.most["timed"] == (3 if name == "dataset --loop 2" else 2), name
    with Counting(manifest) as session:
        session.max_in_flight = 1  # a target that takes one batch at a time: warm-up asks no more of it
        session.warmup(np.zeros((2, *manifest.input.sample_shape), np.float32), 2, in_flight=3)
        assert session.most["warm-up"] == 1 and session.timings == []
    with Counting(manifest) as session:
        data = np.zeros((2, *manifest.input.sample_shape), np.float32)
        session.warmup(data, 1, in_flight=3)  # one asked for: still enough to reach every slot
        assert session.most["warm-up"] == 3
        session.warmup(data, 0, in_flight=3)
        assert session.most["warm-up"] == 0
