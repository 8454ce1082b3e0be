"""Crafted flatbuffers do not hold the reader: a tensors vector of offsets that all point at
one shared table is refused by its count before any of it is walked (over the cap), or after
about the file's length of work (under the cap), with a reason; the same structure with its
few tensors reads as it should."""

from __future__ import annotations

import pytest
from _fixtures import shared_tensor_tflite

from maikit.errors import MaikitError
from maikit.tflite.model import read_tflite


def test_two_million_shared_tensors_are_refused_by_their_count(tmp_path):
    path = tmp_path / "bomb.tflite"
    path.write_bytes(shared_tensor_tflite(2_000_000))  # the 8 MB file of the report
    assert 8_000_000 < path.stat().st_size < 8_100_000
    with pytest.raises(MaikitError) as e:
        read_tflite(path)
    assert "2000000 tensors in the file, more than the limit of 200000" in str(e.value)


def test_shared_tensors_under_the_cap_are_refused_after_the_files_length_of_work(tmp_path):
    path = tmp_path / "bomb.tflite"
    path.write_bytes(shared_tensor_tflite(100_000))
    with pytest.raises(MaikitError) as e:
        read_tflite(path)
    assert "reader walk more than its" in str(e.value) and "shares one object among many" in str(e.value)
    # refused early: at a tensor far below the 100,000 the file lists
    walked = int(str(e.value).split("(at tensor ")[1].split("'")[0])
    assert walked < 10_000


def test_the_same_structure_with_few_tensors_reads(tmp_path):
    path = tmp_path / "small.tflite"
    path.write_bytes(shared_tensor_tflite(3))
    model = read_tflite(path)
    (sg,) = model["subgraphs"]
    assert [t["shape"] for t in sg["tensors"]] == [[1, 16, 16, 4]] * 3 and sg["inputs"] == sg["outputs"] == [0]
