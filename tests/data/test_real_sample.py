"""The real Middlebury 2014 "motorcycle" sample in the official depth format."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data as skdata

from maikit.data.depth import DepthDataset
from maikit.data.real import sample_real_depth


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    return out, sample_real_depth(out)


def test_files_are_in_the_official_format(sample):
    out, summary = sample
    rgb = cv2.imread(str(out / "val" / "rgb" / "motorcycle.png"), cv2.IMREAD_UNCHANGED)
    depth = cv2.imread(str(out / "val" / "depth" / "motorcycle.png"), cv2.IMREAD_UNCHANGED)
    assert rgb.dtype == np.uint8 and rgb.shape == (480, 640, 3)
    assert depth.dtype == np.uint16 and depth.shape == (480, 640)
    assert summary["rgb"] == str(out / "val" / "rgb" / "motorcycle.png")
    ds = DepthDataset(out / "val")
    assert ds.names == ["motorcycle.png"]


def test_depth_is_metric_and_unknown_is_zero(sample):
    out, summary = sample
    depth = cv2.imread(str(out / "val" / "depth" / "motorcycle.png"), cv2.IMREAD_UNCHANGED)
    valid = depth > 0
    metres = depth[valid] / 1000.0
    assert 1.0 < np.median(metres) < 10.0
    assert summary["depth_median_m"] == pytest.approx(np.median(metres), abs=1e-3)
    # the bundled disparity has ~7% unknown pixels (non-finite): they must end up as 0
    _, _, disp = skdata.stereo_motorcycle()
    unknown_src = (~np.isfinite(disp)).mean()
    assert 0.02 < (~valid).mean() < 0.15
    assert (~valid).mean() == pytest.approx(unknown_src, abs=0.02)
    # independent reference: scikit-image's documented calibration for the bundled size
    # (f = 994.978 px, principal point dx = 31.086 px, baseline 193.001 mm)
    crop = disp[:, 37:704]  # the central 4:3 window that is kept
    ref_mm = 193.001 * 994.978 / (crop[np.isfinite(crop)] + 31.086)
    assert np.median(depth[valid]) == pytest.approx(np.median(ref_mm), rel=0.02)
    assert depth[valid].min() == pytest.approx(ref_mm.min(), rel=0.02)
    assert depth[valid].max() == pytest.approx(ref_mm.max(), rel=0.02)


def test_photo_is_the_left_view_cover_cropped(sample):
    out, _ = sample
    left, _, _ = skdata.stereo_motorcycle()
    rgb = cv2.imread(str(out / "val" / "rgb" / "motorcycle.png"))[:, :, ::-1]
    # 500x741 -> central 500x667 (4:3) -> 480x640
    ref = cv2.resize(left[:, 37:704], (640, 480), interpolation=cv2.INTER_LINEAR)
    assert np.abs(rgb.astype(int) - ref).mean() < 3.0
