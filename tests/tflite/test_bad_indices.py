"""Tensor indices that point outside the subgraph are refused by the reader with the field named
(LiteRT's own checks are not relied on: the reader runs first, at preflight, outside any child)."""

from __future__ import annotations

import pytest
from _fixtures import crashing_tflite

from maikit.errors import MaikitError
from maikit.tflite.model import read_tflite


def _edited(tmp_path, edit):
    from ai_edge_litert.tools import flatbuffer_utils as fu

    model = fu.convert_bytearray_to_object(bytearray(crashing_tflite("none")))
    edit(model.subgraphs[0])
    path = tmp_path / "model.tflite"
    path.write_bytes(bytes(fu.convert_object_to_bytearray(model)))
    return path


@pytest.mark.parametrize("field, value, words", [
    ("inputs", [99], "subgraph 0 input refers to tensor 99 of 8"),
    ("outputs", [8], "subgraph 0 output refers to tensor 8 of 8"),
    ("inputs", [-1], "subgraph 0 input refers to tensor -1 of 8"),
])
def test_subgraph_io_index_out_of_range(tmp_path, field, value, words):
    path = _edited(tmp_path, lambda sg: setattr(sg, field, value))
    with pytest.raises(MaikitError) as e:
        read_tflite(path)
    assert words in str(e.value) and "model.tflite" in str(e.value)


def test_operator_index_below_minus_one(tmp_path):
    path = _edited(tmp_path, lambda sg: setattr(sg.operators[0], "inputs", [0, -2]))
    with pytest.raises(MaikitError, match="operator 0 refers to tensor -2 of 8"):
        read_tflite(path)


def test_intact_file_reads(tmp_path):
    g = read_tflite(_edited(tmp_path, lambda sg: None))["subgraphs"][0]
    assert (g["inputs"], g["outputs"], len(g["tensors"])) == ([0], [7], 8)
