"""`mai data from-stereo` on the real Middlebury 2014 pair and on a rendered pair with a known baseline."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from maikit.cli import app
from maikit.data.real import disparity_to_depth_mm
from maikit.errors import MaikitError
from maikit.io import read_png
from maikit.metrics.depth import depth_metrics
from maikit.tasks import DEPTH

# Middlebury 2014 "Motorcycle" calib.txt (full size; docs/references.md#real-data). The bundled copy is 741x500,
# a quarter of 2964x2000, so the height is given as 4 x 500.
MIDDLEBURY_CALIB = """cam0=[3979.911 0 1244.772; 0 3979.911 1019.507; 0 0 1]
cam1=[3979.911 0 1369.115; 0 3979.911 1019.507; 0 0 1]
doffs=124.343
baseline=193.001
width=2964
height=2000
ndisp=270
isint=0
vmin=23
vmax=245
dyavg=0
dymax=0
"""


def _write_rgb(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def test_middlebury_depth_against_ground_truth(tmp_path):
    from skimage import data

    left, right, disp = data.stereo_motorcycle()
    _write_rgb(tmp_path / "left" / "motorcycle.png", left)
    _write_rgb(tmp_path / "right" / "motorcycle.png", right)
    (tmp_path / "calib.txt").write_text(MIDDLEBURY_CALIB)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["data", "from-stereo", "--left", str(tmp_path / "left"), "--right",
                                   str(tmp_path / "right"), "--calib", str(tmp_path / "calib.txt"), "--out", str(out),
                                   "--split", "val", "--keep-size", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["pairs"] == 1
    depth = read_png(out / "val" / "depth" / "motorcycle.png").astype(np.float64)
    assert depth.shape == left.shape[:2]
    np.testing.assert_array_equal(read_png(out / "val" / "rgb" / "motorcycle.png"), left)
    # ground truth from the bundled disparities, quarter-size calibration as scikit-image documents it
    gt = disparity_to_depth_mm(disp, 994.978, 31.086, 193.001)
    both = (gt > 0) & (depth > 0)
    share = both.sum() / (gt > 0).sum()
    m = depth_metrics(np.where(both, depth, 0), np.where(both, gt, 0))
    assert share > 0.8, share
    assert m["rel"] <= 0.10, m
    assert m["si_rmse"] < 0.15, m


def test_task_frame_is_480x640_and_the_dataset_checks_clean(tmp_path):
    from skimage import data

    from maikit.data.check import check_dataset
    from maikit.data.stereo import from_stereo

    left, right, _ = data.stereo_motorcycle()
    _write_rgb(tmp_path / "l" / "a.png", left)
    _write_rgb(tmp_path / "r" / "a.png", right)
    _write_rgb(tmp_path / "l" / "lonely.png", left[:64, :64])
    (tmp_path / "calib.txt").write_text(MIDDLEBURY_CALIB)
    summary = from_stereo(tmp_path / "l", tmp_path / "r", tmp_path / "calib.txt", tmp_path / "out")
    assert [s["name"] for s in summary["skipped"]] == ["lonely.png"]
    depth = read_png(tmp_path / "out" / "train" / "depth" / "a.png")
    assert depth.shape == (480, 640) and depth.dtype == np.uint16
    intr = summary["frames"][0]["intrinsics"]
    # 741x500 -> centre crop 667x500 -> 640x480: f scales by 640/667
    assert intr["fx"] == pytest.approx(994.978 * 640 / 667, rel=1e-3)
    assert check_dataset(tmp_path / "out", DEPTH).ok
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".staging")]
    with pytest.raises(MaikitError, match="already exists"):
        from_stereo(tmp_path / "l", tmp_path / "r", tmp_path / "calib.txt", tmp_path / "out")


def test_rendered_pair_with_known_baseline(tmp_path):
    """A scene of the project's depth synthesiser seen by two cameras 120 mm apart (a ZED's
    baseline), with a ZED-style calibration file: depth against the exact rendered depth."""
    from maikit.data.stereo import read_calibration, stereo_depth
    from maikit.data.synth_depth import SynthParams, random_scene, render_scene, scene_rng

    w, h, f, baseline = 672, 376, 336.0, 120.0  # the ZED's VGA size
    params = dataclasses.replace(SynthParams(width=w, height=h), focal_px=f, focal_jitter=0.0)
    scene = random_scene(scene_rng(2, 0), params)
    cam = scene.camera
    right_pos = np.asarray(cam.position) + np.asarray(cam.rotation)[:, 0] * baseline / 1000.0
    left_view = render_scene(scene)
    right_view = render_scene(dataclasses.replace(scene, camera=dataclasses.replace(cam, position=tuple(right_pos))))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    conf = tmp_path / "SN1.conf"
    conf.write_text(f"[LEFT_CAM_VGA]\nfx={f}\nfy={f}\ncx={cx}\ncy={cy}\nk1=0\nk2=0\n"
                    f"[RIGHT_CAM_VGA]\nfx={f}\nfy={f}\ncx={cx}\ncy={cy}\n[STEREO]\nBaseline={baseline}\nCV_VGA=0\n")
    calib = read_calibration(conf, (w, h))
    rect, depth, stats = stereo_depth(left_view.rgb, right_view.rgb, calib)
    assert rect.baseline_mm == pytest.approx(baseline) and rect.focal_px == pytest.approx(f, rel=1e-6)
    exact = np.where(left_view.depth_mm > 0, left_view.depth_m * 1000.0, 0.0)
    both = (exact > 0) & (depth > 0)
    m = depth_metrics(np.where(both, depth, 0), np.where(both, exact, 0))
    # flat-shaded surfaces leave much of the frame unmatched; where SGBM matches, depth is close
    assert both.sum() / (exact > 0).sum() > 0.25
    assert m["rel"] < 0.08, m


def test_calibration_missing_field_is_a_one_line_error(tmp_path):
    (tmp_path / "l").mkdir()
    (tmp_path / "r").mkdir()
    bad = tmp_path / "calib.txt"
    bad.write_text(MIDDLEBURY_CALIB.replace("baseline=193.001\n", ""))
    res = CliRunner().invoke(app, ["data", "from-stereo", "--left", str(tmp_path / "l"), "--right", str(tmp_path / "r"),
                                   "--calib", str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and "`baseline`" in lines[0], res.output
    zed = tmp_path / "SN2.conf"
    zed.write_text("[LEFT_CAM_VGA]\nfx=1\nfy=1\ncx=1\ncy=1\n[RIGHT_CAM_VGA]\nfx=1\nfy=1\ncx=1\n[STEREO]\nBaseline=120\n")
    from maikit.data.stereo import read_calibration

    with pytest.raises(MaikitError, match="lacks `cy` in \\[RIGHT_CAM_VGA\\]"):
        read_calibration(zed, (672, 376))
    assert not (tmp_path / "out").exists()


def test_wls_without_contrib_says_what_to_install():
    try:
        from cv2 import ximgproc  # noqa: F401
        pytest.skip("opencv-contrib is installed here")
    except ImportError:
        pass
    from maikit.data.stereo import disparity_lr

    img = np.zeros((32, 64, 3), np.uint8)
    with pytest.raises(MaikitError, match="opencv-contrib-python-headless"):
        disparity_lr(img, img, 16, wls=True)
