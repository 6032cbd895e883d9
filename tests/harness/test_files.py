"""The atomic-write helpers: a failed writer never leaves a half file or a temporary one behind; per-input stems."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.files import (NAME_MAX, OUTPUT_NAME_EXTRA, atomic_output, claim_stem, copy_atomic,
                           remove_leftover_temporaries, temporary_path, write_error, writer_gone)


def test_atomic_output_renames_over_the_target_when_the_block_succeeds(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible before the rename
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_atomic_output_keeps_the_old_file_when_the_block_raises(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["result.json"]


def test_atomic_output_writes_nothing_for_a_new_file_when_the_block_raises(tmp_path):
    with pytest.raises(ValueError):
        with atomic_output(tmp_path / "new.bin") as tmp:
            tmp.write_bytes(b"x")
            raise ValueError
    assert os.listdir(tmp_path) == []


def test_atomic_output_ends_the_temporary_name_with_the_suffix_asked_for(tmp_path):
    with atomic_output(tmp_path / "cache.onnx", suffix=".onnx") as tmp:
        assert tmp.name.endswith(".tmp.onnx")
        tmp.write_text("x")
    assert (tmp_path / "cache.onnx").read_text() == "x"


def test_copy_atomic_copies_and_leaves_a_copy_onto_itself_alone(tmp_path):
    src = tmp_path / "a.onnx"
    src.write_bytes(b"\x00\x01")
    copy_atomic(src, tmp_path / "b.onnx")
    assert (tmp_path / "b.onnx").read_bytes() == b"\x00\x01"
    copy_atomic(src, src)
    assert src.read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(tmp_path)) == ["a.onnx", "b.onnx"]


def test_stem_is_the_name_before_its_first_dot_as_ais_bench_names_outputs():
    from harness.files import stem_of

    assert stem_of("/data/bins/ILSVRC2012_val_00000001.JPEG.bin") == "ILSVRC2012_val_00000001"
    assert stem_of(Path("bins") / "img 7.npy") == "img 7"
    assert stem_of("relative.name/with.dots/x.bin") == "x"


def test_a_temporary_file_is_abandoned_only_when_its_writer_has_ended(tmp_path):
    mine = temporary_path(tmp_path / "bs64.aoti.pt2", ".pt2")
    assert mine.parent == tmp_path and writer_gone(mine) is False  # this process is still writing it
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert writer_gone(mine.with_name(mine.name.replace(str(os.getpid()), ended.stdout.strip()))) is True
    assert writer_gone(tmp_path / ".bs64.aoti.pt2.no-pid.tmp.pt2") is True


def test_a_writer_that_ended_but_is_not_yet_reaped_is_gone(tmp_path):
    """A killed worker stays a zombie until its parent, or an init that reaps late, collects it."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.time() < deadline, "the child did not end"
        time.sleep(0.01)
    left = tmp_path / f".img.bin.{child.pid}.tmp"
    try:
        assert writer_gone(left) is True  # kill(pid, 0) still answers for it
    finally:
        child.wait()


def test_leftover_temporaries_go_but_a_live_writers_stay(tmp_path):
    """infer's `--device 0,1` workers share one output directory: each removes what killed runs left there on
    starting, never the file the other worker is writing."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {"ended": ended.stdout.strip(), "mine": str(os.getpid()), "live": str(other.pid)}
        files = {who: tmp_path / f".a_{who}.txt.{pid}.tmp" for who, pid in names.items()}
        files["odd"] = tmp_path / ".a_odd.txt.tmp"
        files["no pid"] = tmp_path / ".a_dated.txt.20240101123456.tmp"  # a number too big for a process id
        kept = tmp_path / "a.txt"
        for path in [*files.values(), kept]:
            path.write_text("x")
        remove_leftover_temporaries(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([files["live"].name, kept.name])
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("code, words", [
    (errno.ENOENT, "directory was removed"), (errno.EROFS, "read-only or not writable"),
    (errno.ENAMETOOLONG, "shorter name"), (errno.EIO, "rerun the same command once that is fixed")])
def test_a_failed_write_is_named_by_its_cause(code, words):
    error = write_error(OSError(code, os.strerror(code)), Path("/r/x_0.txt"), 10)
    assert isinstance(error, InputError) and words in str(error) and str(error).startswith("/r/x_0.txt")
    other_causes = ("directory was removed", "read-only or not writable", "shorter name", "once that is fixed")
    assert sum(cause in str(error) for cause in other_causes) == 1


def test_an_input_whose_outputs_would_pass_the_name_limit_is_refused_before_any_write(tmp_path):
    longest = "a" * (NAME_MAX - OUTPUT_NAME_EXTRA)
    found: dict = {}
    claim_stem(found, tmp_path / f"{longest}.bin")
    written = temporary_path(tmp_path / f"{longest}_99.txt").name.replace(str(os.getpid()), "4194304")
    assert len(written.encode()) == NAME_MAX  # the limit is exactly what the file system takes
    with pytest.raises(InputError, match="name too long"):
        claim_stem(found, tmp_path / f"{longest}b.bin")


def test_a_name_that_is_not_utf8_is_measured_in_its_own_bytes(tmp_path):
    name = os.fsdecode(b"caf\xe9.bin")  # Latin-1 from an archive: a surrogate escape in Python
    found: dict = {}
    claim_stem(found, tmp_path / name)
    assert found == {os.fsdecode(b"caf\xe9"): tmp_path / name}
