"""harness.outputs.read_outputs: TXT/NPY/BIN by summary.json, directories without one, bad input."""
import numpy as np
import pytest

from harness.errors import InputError
from harness.outputs import read_outputs
from tests.report.report_fixtures import write_json, write_result_dir

VALUES = {"img_a": [0.5, -1.25, 3.0, 0.0, 2.75, -0.125], "img_b": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}


@pytest.mark.parametrize("outfmt", ["TXT", "NPY", "BIN"])
def test_reads_each_format_using_summary(tmp_path, outfmt):
    write_result_dir(tmp_path, VALUES, outfmt=outfmt)
    got = read_outputs(tmp_path)
    assert list(got) == ["img_a", "img_b"]
    for stem, values in VALUES.items():
        assert got[stem].shape == (6,)
        np.testing.assert_array_equal(got[stem], np.array(values, dtype=np.float32))


def test_txt_in_ais_bench_layout_without_summary(tmp_path):
    # ais_bench TXT: '%f ' per value, trailing space, newline; a padding placeholder and a sumary.json beside
    (tmp_path / "ILSVRC2012_val_00000001_0.txt").write_text("1.500000 -2.250000 3.000000 \n")
    (tmp_path / "ILSVRC2012_val_00000001_1.txt").write_text("9.000000 \n")
    (tmp_path / "padding_infer_fake_file_0.txt").write_text("7.000000 7.000000 7.000000 \n")
    (tmp_path / "sumary.json").write_text("{}")
    got = read_outputs(tmp_path)
    assert list(got) == ["ILSVRC2012_val_00000001"]
    np.testing.assert_array_equal(got["ILSVRC2012_val_00000001"], [1.5, -2.25, 3.0])
    np.testing.assert_array_equal(read_outputs(tmp_path, output_index=1)["ILSVRC2012_val_00000001"], [9.0])


def test_multi_row_txt_keeps_rows(tmp_path):
    (tmp_path / "x_0.txt").write_text("0 1 2 \n3 4 5 \n")
    assert read_outputs(tmp_path)["x"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_empty_result_folder_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="no output files"):
        read_outputs(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="result directory not found"):
        read_outputs(tmp_path / "nope")


def test_unreadable_txt_names_the_file(tmp_path):
    write_result_dir(tmp_path, VALUES, outfmt="TXT")
    (tmp_path / "img_b_0.txt").write_text("1.0 banana 3.0\n")
    with pytest.raises(InputError, match=r"img_b_0\.txt: unreadable TXT output"):
        read_outputs(tmp_path)


def test_truncated_bin_is_refused(tmp_path):
    write_result_dir(tmp_path, VALUES, outfmt="BIN")
    (tmp_path / "img_a_0.bin").write_bytes(np.zeros(5, dtype=np.float32).tobytes())
    with pytest.raises(InputError, match=r"img_a_0\.bin: 5 values, the run summary says the output shape is \[6\]"):
        read_outputs(tmp_path)


def test_bin_without_summary_cannot_be_read(tmp_path):
    write_result_dir(tmp_path, VALUES, outfmt="BIN", summary=False)
    with pytest.raises(InputError, match="BIN outputs without the run summary"):
        read_outputs(tmp_path)


def test_summary_format_without_matching_files(tmp_path):
    write_result_dir(tmp_path, VALUES, outfmt="TXT")
    data = __import__("json").loads((tmp_path / "summary.json").read_text())
    write_json(tmp_path / "summary.json", {**data, "outfmt": "NPY"})
    with pytest.raises(InputError, match="says outfmt NPY"):
        read_outputs(tmp_path)
