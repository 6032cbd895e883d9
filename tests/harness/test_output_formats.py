"""The output-format registry: a format registered here alone is written, checked on resume and scored."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.contracts import TensorSpec
from harness.output_formats import (FORMATS, OutputFormat, output_format, output_names, parse_output_name,
                                    register, unregister)


def _encode_csv(batch: np.ndarray) -> list[bytes]:
    return [(",".join(repr(float(v)) for v in row.reshape(-1)) + "\n").encode("ascii") for row in batch]


def _read_csv(path: Path, dtype: str | None) -> np.ndarray:
    return np.array(path.read_text(encoding="ascii").strip().split(","), dtype=np.float32)


def _csv_whole_check(shape, dtype):
    return lambda path: Path(path).read_bytes().count(b",") == int(np.prod(shape)) - 1 \
        and Path(path).read_bytes().endswith(b"\n")


@pytest.fixture
def csv_format():
    fmt = register(OutputFormat("CSV", "csv", _encode_csv, _read_csv, _csv_whole_check))
    yield fmt
    unregister("CSV")


def test_names_follow_ais_bench_and_parse_back():
    names = output_names(["img_1", "a_b"], 2, output_format("txt"))
    assert names == [["img_1_0.txt", "img_1_1.txt"], ["a_b_0.txt", "a_b_1.txt"]]
    assert parse_output_name("a_b_1.TXT")[:2] == ("a_b", 1)
    assert parse_output_name("a_b_1.TXT")[2] is FORMATS["TXT"]
    assert parse_output_name("summary.json") is None
    assert parse_output_name("_1.txt")[:2] == ("", 1)  # the output of '.x.bin', whose stem is empty (ais_bench's)
    assert parse_output_name("x_1.csv") is None  # not registered


def test_a_registered_format_is_written_resumed_and_scored(csv_format, tmp_path, capsys):
    from infer.resume import unfinished
    from infer.writers import OutputWriter
    from postprocess.cli import PostprocessConfig
    from postprocess.run import run

    logits = np.random.default_rng(5).standard_normal((4, 10)).astype(np.float32)
    stems = ["img_a", "img_b", "img_c", "img_d"]
    out = tmp_path / "res"
    out.mkdir()
    writer = OutputWriter(out, "CSV", processes=0)
    writer.submit(stems, [logits])
    writer.close()
    assert sorted(p.name for p in out.iterdir()) == [f"{s}_0.csv" for s in stems]
    assert (out / "img_b_0.csv").read_bytes() == _encode_csv(logits[1:2])[0]

    whole = (out / "img_c_0.csv").read_bytes()
    (out / "img_c_0.csv").write_bytes(whole[:len(whole) // 2])  # killed while writing it
    inputs = [tmp_path / f"{s}.bin" for s in stems]
    spec = TensorSpec("logits", [-1, 10], "float32")
    todo, done = unfinished(inputs, out, tmp_path / "res_summary.json", "CSV", [spec])
    assert [p.name for p in todo] == ["img_c.bin"] and done == 3
    (out / "img_c_0.csv").write_bytes(whole)

    truth = np.argmax(logits, axis=1)
    labels = [int(truth[0]), int(truth[1]), (int(truth[2]) + 1) % 10, int(truth[3])]  # three of four right
    label_file = tmp_path / "val_label.txt"
    label_file.write_text("".join(f"{s}.JPEG {c}\n" for s, c in zip(stems, labels)))
    table = run(PostprocessConfig(result=out, labels=label_file))
    values = {item["key"]: item["value"] for item in table["value"]}
    assert values["Number of images"] == "4" and values["Top1 accuracy"] == "75.0%"
    assert "files that are not results" not in capsys.readouterr().out
