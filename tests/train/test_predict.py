"""Inference from a run: seamless ISP tiles, depth from photos of any size, one-line errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

from maikit.cli import app
from maikit.io import read_png
from maikit.train.predict import predict_isp_packed, tiled_apply


class _ConvIsp(nn.Module):
    """Three 3x3 convs + pixel shuffle: receptive field 7 packed px (3 px each side)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2), nn.Sigmoid())

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("multiple", [1, 4])
def test_tiled_equals_untiled_for_small_receptive_field(multiple):
    torch.manual_seed(0)
    model = _ConvIsp().eval()
    x = torch.rand(1, 4, 70, 92)
    whole = predict_isp_packed(model, x, size_multiple=multiple, tile=None)
    tiled = predict_isp_packed(model, x, size_multiple=multiple, tile=24, overlap=4)
    assert whole.shape == (1, 3, 140, 184)
    assert torch.allclose(whole, tiled, atol=1e-5)
    # too little overlap for the receptive field does leave seams: the test can fail
    seamy = tiled_apply(model, x, tile=24, overlap=0, scale=2)
    assert (seamy - model(x)).abs().max() > 1e-3


def test_tile_without_room_is_an_error():
    from maikit.errors import MaikitError

    with pytest.raises(MaikitError, match="--tile"):
        tiled_apply(nn.Identity(), torch.zeros(1, 4, 64, 64), tile=16, overlap=8)


def test_predict_isp_cli_writes_full_resolution_rgb(isp_run, isp_data, tmp_path):
    out = tmp_path / "rgb"
    res = CliRunner().invoke(app, ["predict", str(isp_run.run_dir), "--input", str(isp_data / "val"),
                                   "--out", str(out), "--tile", "0"])
    assert res.exit_code == 0, res.output
    raws = sorted((isp_data / "val" / "mediatek_raw").glob("*.png"))
    assert sorted(p.name for p in out.glob("*.png")) == [p.name for p in raws]
    img = read_png(out / raws[0].name)
    assert img.dtype == np.uint8 and img.shape == read_png(raws[0]).shape + (3,)
    # the same frame through 16-px tiles (8-px margins): smallnet's receptive field fits
    tiled = tmp_path / "tiled"
    res = CliRunner().invoke(app, ["predict", str(Path(isp_run.run_dir) / "best.pt"), "--input", str(raws[0]),
                                   "--out", str(tiled), "--tile", "24", "--overlap", "8"])
    assert res.exit_code == 0, res.output
    assert np.abs(read_png(tiled / raws[0].name).astype(int) - img.astype(int)).max() <= 1


def test_predict_depth_from_jpeg_of_any_size(depth_run, depth_data, tmp_path):
    rgb = read_png(next((depth_data / "val" / "rgb").glob("*.png")))
    photo = tmp_path / "in" / "photo.jpg"
    photo.parent.mkdir()
    cv2.imwrite(str(photo), cv2.resize(rgb, (75, 51))[:, :, ::-1])
    out = tmp_path / "depth"
    res = CliRunner().invoke(app, ["predict", str(depth_run.run_dir), "--input", str(photo.parent), "--out", str(out),
                                   "--json"])
    assert res.exit_code == 0, res.output
    depth = read_png(out / "photo.png")
    assert depth.dtype == np.uint16 and depth.shape == (51, 75) and depth.max() > 0
    preview = read_png(out / "preview" / "photo.png")
    assert preview.dtype == np.uint8 and preview.shape == (51, 75, 3)


def test_predict_broken_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"\x00garbage")
    for target in (bad, tmp_path / "missing_run"):
        res = CliRunner().invoke(app, ["predict", str(target), "--input", str(tmp_path), "--out", str(tmp_path / "o")])
        assert res.exit_code == 1
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in res.output
