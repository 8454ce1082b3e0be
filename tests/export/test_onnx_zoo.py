"""ONNX export of the zoo graphs the TorchScript exporter cannot trace (it falls back to torch.export)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

# csanet: UpConv builds its padded kernel in forward; tcl: shape arithmetic for its 1/10 grid;
# aiia_hit: half-pixel nearest resize (nearest-exact); smallnet: the plain case
CASES = {"isp/csanet": (1, 4, 32, 48), "depth/tcl": (1, 3, 96, 128), "depth/aiia_hit": (1, 3, 96, 128),
         "isp/smallnet": (1, 4, 32, 48)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_zoo_model_exports_to_onnx_and_matches_pytorch(name, tmp_path):
    import onnxruntime as ort

    from maikit.export.onnx import export_onnx
    from maikit.export.source import resolve_source

    torch.manual_seed(0)
    model = resolve_source(name).model
    shape = CASES[name]
    x = torch.rand(*shape) * (255.0 if shape[1] == 3 else 1.0)
    path = export_onnx(model, x, tmp_path / "m.onnx", layout="nhwc", dynamic_hw=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left behind
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(x).permute(0, 2, 3, 1).numpy()
    got = sess.run(None, {"input": x.permute(0, 2, 3, 1).numpy()})[0]
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max()))


class Untraceable(torch.nn.Module):
    def forward(self, x):
        if float(x.sum()) > -1.0:  # data-dependent Python control flow, then an error
            raise RuntimeError("boom")
        return x


def test_failed_onnx_export_names_both_exporters_and_keeps_the_old_file(tmp_path):
    from maikit.errors import MaikitError
    from maikit.export.onnx import export_onnx

    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(MaikitError) as e:
        export_onnx(Untraceable(), torch.rand(1, 3, 8, 8), target, layout="nchw")
    msg = str(e.value)
    assert "m.onnx" in msg and "torchscript exporter" in msg and "torch.export exporter" in msg
    assert "\n" not in msg
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
