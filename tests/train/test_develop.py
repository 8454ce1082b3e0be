"""`mai isp develop`: camera DNGs (written by PiDNG) developed by a run or a .tflite file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from maikit.cli import app
from maikit.io import read_png
from maikit.tasks import MAI21

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from _dng import write_dng  # noqa: E402


def _scene_dng(path: Path, pattern: str = "GRBG") -> tuple[Path, np.ndarray]:
    """A 12-bit DNG of a smooth colour scene; returns it and the expected 10-bit RGGB mosaic."""
    h, w = 130, 194  # after the one-column crop of GRBG: 130 x 192 (packed 65 x 96)
    yy, xx = np.mgrid[0:h, 0:w]
    sensor = (64 + (xx * 13 + yy * 7) % 4000).astype(np.uint16)
    path = write_dng(path, sensor, pattern, 4095, [64], 12)
    expected = np.rint((sensor.astype(np.float64) - 64) / (4095 - 64) * 1023).astype(np.uint16)
    c0 = {"RGGB": 0, "GRBG": 1}[pattern]
    return path, expected[:, c0:c0 + 192]


@pytest.fixture(scope="module")
def isp_checkpoint(tmp_path_factory):
    from maikit.models import create_model
    from maikit.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("isp/smallnet")
    path = tmp_path_factory.mktemp("ckpt") / "smallnet.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_name": "isp/smallnet", "task": "isp",
                           "data": {"raw_convention": "mai21"}})
    return path, model.eval()


def test_develop_run_matches_the_model_on_the_expected_packing(isp_checkpoint, tmp_path):
    from maikit.data.isp import pack_raw
    from maikit.models import get_model_entry
    from maikit.train.predict import predict_isp_packed

    ckpt, model = isp_checkpoint
    dng, mosaic = _scene_dng(tmp_path / "in" / "IMG_0001.dng")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["isp", "develop", str(dng.parent), "--model", str(ckpt), "--out", str(out),
                                   "--jpeg", "--tile", "48", "--overlap", "16", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["count"] == 1 and info["photos"][0]["cfa"] == "GRBG"
    img = read_png(out / "IMG_0001.png")
    assert img.shape == (130, 192, 3) and img.dtype == np.uint8
    assert (out / "IMG_0001.jpg").read_bytes()[:2] == b"\xff\xd8"
    x = torch.from_numpy(pack_raw(mosaic, MAI21).transpose(2, 0, 1).copy())[None]
    ref = predict_isp_packed(model, x, size_multiple=get_model_entry("isp/smallnet").size_multiple, tile=None)
    ref = (ref[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.abs(img.astype(int) - ref.astype(int)).max() <= 1


def test_develop_non_raw_file_is_a_one_line_error(isp_checkpoint, tmp_path):
    import cv2

    png = tmp_path / "photo.png"
    cv2.imwrite(str(png), np.zeros((16, 16, 3), np.uint8))
    res = CliRunner().invoke(app, ["isp", "develop", str(png), "--model", str(isp_checkpoint[0]),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(png) in lines[0] and "not a RAW photo" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_develop_with_a_fixed_shape_tflite_runs_in_tiles(tmp_path):
    from _fixtures import TinyIsp

    from maikit.data.isp import pack_raw
    from maikit.export.tflite import convert_to_tflite
    from maikit.train.develop import develop

    model = TinyIsp().eval()
    tfl = convert_to_tflite(model, torch.zeros(1, 4, 96, 96), tmp_path / "model.tflite")
    dng, _ = _scene_dng(tmp_path / "in" / "a.dng", "RGGB")
    res = develop(dng, tfl, tmp_path / "out", tile=64, overlap=8)
    img = read_png(tmp_path / "out" / "a.png")
    from maikit.data.rawphoto import read_raw_photo, to_layout_mosaic

    mosaic = to_layout_mosaic(read_raw_photo(dng))
    with torch.no_grad():
        ref = model(torch.from_numpy(pack_raw(mosaic).transpose(2, 0, 1).copy())[None])
    ref = (ref[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert img.shape == ref.shape == (130, 194, 3)
    # tiles are padded to the file's 96x96 by reflection, the model pads its convs with zeros:
    # only the 2 packed px at the right and bottom border may differ
    assert np.abs(img[:-4, :-4].astype(int) - ref[:-4, :-4].astype(int)).max() <= 1
    assert res.photos[0]["rgb_hw"] == [130, 194]


class _UpIsp(torch.nn.Module):
    """conv 3x3 -> tanh -> 2x2 stride-2 transposed conv: exports with dynamic height/width
    (a pixel shuffle does not), receptive field 1 packed px."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.u = torch.nn.ConvTranspose2d(8, 3, 2, stride=2)

    def forward(self, x):
        return torch.sigmoid(self.u(torch.tanh(self.c(x))))


@pytest.mark.slow
def test_develop_with_a_dynamic_shape_tflite_equals_the_untiled_model(tmp_path):
    from maikit.data.isp import pack_raw
    from maikit.data.rawphoto import read_raw_photo, to_layout_mosaic
    from maikit.export.tflite import convert_to_tflite
    from maikit.train.develop import develop
    from maikit.train.predict import predict_isp_packed

    model = _UpIsp().eval()
    tfl = convert_to_tflite(model, torch.zeros(1, 4, 64, 64), tmp_path / "model_none.tflite", dynamic_hw=True,
                            size_multiple=32)
    dng, _ = _scene_dng(tmp_path / "in" / "b.dng", "GRBG")
    develop(dng, tfl, tmp_path / "out", tile=64, overlap=8)
    img = read_png(tmp_path / "out" / "b.png")
    x = torch.from_numpy(pack_raw(to_layout_mosaic(read_raw_photo(dng))).transpose(2, 0, 1).copy())[None]
    ref = predict_isp_packed(model, x, size_multiple=32, tile=None)  # same padding, one piece
    ref = (ref[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert img.shape == ref.shape == (130, 192, 3)
    assert np.abs(img.astype(int) - ref.astype(int)).max() <= 1
