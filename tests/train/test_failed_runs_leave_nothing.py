"""A failed train or predict leaves the output folder as it was; inputs are checked against the run's task."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from maikit.errors import MaikitError
from maikit.io import read_png, write_png
from maikit.train import TrainConfig, train
from maikit.train.predict import predict_path


def _copy_with_broken_val(src, dst):
    shutil.copytree(src, dst)
    raw = sorted((dst / "val" / "mediatek_raw").glob("*.png"))[-1]
    write_png(raw, np.zeros((32, 32, 3), np.uint8))  # an RGB image where a RAW Bayer frame belongs
    return raw


def test_broken_validation_file_fails_before_step_one_and_leaves_no_run_folder(isp_data, tmp_path):
    bad = _copy_with_broken_val(isp_data, tmp_path / "data")
    out = tmp_path / "runs" / "new_run"
    # val_every far beyond the step count: the old loop met the broken file only at the end
    cfg = TrainConfig(task="isp", model="smallnet", data=str(tmp_path / "data"), out=str(out), steps=2, batch=2,
                      patch=16, recipe="fast", val_every=1000)
    with pytest.raises(MaikitError) as e:
        train(cfg, progress=False)
    assert str(bad) in str(e.value) and "uint16 1-channel" in str(e.value)
    assert not out.exists()


def test_failure_in_an_existing_folder_keeps_the_users_files(isp_data, tmp_path):
    _copy_with_broken_val(isp_data, tmp_path / "data")
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    cfg = TrainConfig(task="isp", model="smallnet", data=str(tmp_path / "data"), out=str(out), steps=2, batch=2,
                      patch=16, recipe="fast")
    with pytest.raises(MaikitError):
        train(cfg, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_depth_run_refuses_raw_bayer_pngs_and_writes_nothing(depth_run, isp_data, tmp_path):
    raw = sorted((isp_data / "val" / "mediatek_raw").glob("*.png"))[0]
    assert read_png(raw).dtype == np.uint16 and read_png(raw).ndim == 2  # the fixture is RAW Bayer
    out = tmp_path / "depth_out"
    with pytest.raises(MaikitError) as e:
        predict_path(depth_run.run_dir, raw.parent, out)
    assert raw.name in str(e.value) and "uint16 1-channel" in str(e.value) and "isp" in str(e.value)
    assert not out.exists()


def test_predict_writes_all_or_nothing(depth_run, depth_data, tmp_path):
    src = sorted((depth_data / "val" / "rgb").glob("*.png"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, f in enumerate(src[:2]):
        shutil.copy(f, inputs / f"{i}_ok.png")
    (inputs / "9_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")  # sorts last
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("before")
    with pytest.raises(MaikitError):
        predict_path(depth_run.run_dir, inputs, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]  # no outputs, no preview/, no staging folder
    (inputs / "9_broken.png").unlink()
    result = predict_path(depth_run.run_dir, inputs, out)
    assert sorted(p.name for p in out.iterdir()) == ["0_ok.png", "1_ok.png", "keep.txt", "preview"]
    assert result.outputs == [str(out / "0_ok.png"), str(out / "1_ok.png")]
    assert result.previews == [str(out / "preview" / "0_ok.png"), str(out / "preview" / "1_ok.png")]
