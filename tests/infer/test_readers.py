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


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_reader_yields_the_files_bytes_in_order_with_padding(tmp_path, io, monkeypatch):
    from infer import readers
    from infer.dataset import plan_batches

    monkeypatch.setattr(readers, "CHUNK_BYTES", 2 * 3 * 8 * 8 * 4)  # two rows per task: several tasks a batch
    data = write_bins(tmp_path / "bins", 11)
    files = sorted((tmp_path / "bins").glob("*.bin"), key=lambda p: int(p.stem.split("_")[1]))
    registered, released = [], []

    def register(block: np.ndarray):
        registered.append(block.nbytes)
        return lambda: released.append(block.nbytes)

    shape = (5, 3, 8, 8)
    reader = readers.Reader.open(io, shape, np.dtype("float32"), 6, lambda s, d: np.empty(s, d), register)
    got = []
    try:
        for batch in reader.batches(plan_batches(files, 5), ahead=3):
            got.append((batch.index, batch.stems, batch.data.copy()))
            reader.pool.give(batch.data)
    finally:
        reader.close()
    assert [g[0] for g in got] == [0, 1, 2]
    assert got[2][1] == ["img_10"]
    for (_, _, array), want in zip(got, expected_batches(data, 5)):
        assert np.array_equal(array, want)
    if io == "processes":  # one shared block offered to the target, released at close
        assert len(registered) == 1 and registered[0] >= 6 * np.prod(shape) * 4 and released == registered
    else:
        assert registered == []


@pytest.mark.parametrize("io", ["threads", "processes"])
def test_a_file_that_changed_size_stops_the_read_naming_it(tmp_path, io):
    from infer.dataset import plan_batches
    from infer.readers import Reader

    write_bins(tmp_path / "bins", 4)
    files = sorted((tmp_path / "bins").glob("*.bin"))
    files[2].write_bytes(b"short")  # after listing: as if another process rewrote it
    reader = Reader.open(io, (2, 3, 8, 8), np.dtype("float32"), 4, lambda s, d: np.empty(s, d),
                         lambda block: None)
    try:
        with pytest.raises(ContractError, match=f"{files[2].name}: 5 bytes read"):
            for batch in reader.batches(plan_batches(files, 2), ahead=2):
                reader.pool.give(batch.data)
    finally:
        reader.close()


def test_io_choice_follows_cores_and_shared_memory(monkeypatch):
    from infer import readers

    monkeypatch.setattr(readers, "shared_memory_room", lambda nbytes: True)
    monkeypatch.setattr(readers, "usable_cores", lambda: 2)
    assert readers.choose_io("auto", 1 << 20, 6) == "threads"
    monkeypatch.setattr(readers, "usable_cores", lambda: 16)
    assert readers.choose_io("auto", 1 << 20, 6) == "processes"
    assert readers.choose_io("threads", 1 << 20, 6) == "threads"
    monkeypatch.setattr(readers, "shared_memory_room", lambda nbytes: False)
    assert readers.choose_io("auto", 1 << 20, 6) == "threads"
    with pytest.raises(InputError, match="--io threads"):
        readers.choose_io("processes", 1 << 20, 6)


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


def test_end_to_end_time_includes_writing_the_last_outputs(tmp_path):
    from harness.contracts import ConvertManifest
    from infer.loop import run_dataset
    from infer.writers import OutputWriter
    from targets import get_target

    model = make_convert_dir(tmp_path / "null", target="null", batch=4)
    write_bins(tmp_path / "bins", 10)
    manifest = ConvertManifest.read(model)
    out = tmp_path / "out"
    out.mkdir()
    files = sorted((tmp_path / "bins").glob("*.bin"))
    with get_target("null").open(model / manifest.artifact, manifest) as session:
        writer = OutputWriter(out, "BIN")
        result = run_dataset(session, files, 4, writer, warmup_count=0, progress=False, io="threads")
        written = sorted(p.name for p in out.glob("*.bin"))  # before close: the loop already waited
        writer.close()
    assert written == sorted(f"{f.stem}_0.bin" for f in files)
    assert result.images == 10 and result.io == "threads"


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
