"""Folder evaluation and the ``mai metrics`` command on small PNG folders written with cv2."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio
from _fixtures import write_png_cv
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.metrics import evaluate_dirs, ms_ssim
from maikit.tasks import DEPTH, ISP

runner = CliRunner()


def _write_rgb(folder, name, rgb):
    write_png_cv(folder / name, rgb)


def _write_depth(folder, name, depth_mm):
    write_png_cv(folder / name, depth_mm.astype(np.uint16))


@pytest.fixture
def isp_dirs(tmp_path):
    rng = np.random.default_rng(0)
    pairs = {}
    for i in range(2):
        gt = rng.integers(0, 256, (164, 168, 3), dtype=np.uint8)
        pred = np.clip(gt.astype(int) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
        _write_rgb(tmp_path / "gt", f"{i}.png", gt)
        _write_rgb(tmp_path / "pred", f"{i}.png", pred)
        pairs[f"{i}.png"] = (pred, gt)
    return tmp_path / "pred", tmp_path / "gt", pairs


@pytest.fixture
def depth_dirs(tmp_path):
    rng = np.random.default_rng(1)
    for i, s in enumerate((1.25, 0.8)):
        gt = rng.integers(20, 1000, (12, 16)) * 20  # multiples of 20: gt * s stays integral
        gt[0] = 0
        _write_depth(tmp_path / "gt", f"{i}.png", gt)
        _write_depth(tmp_path / "pred", f"{i}.png", np.rint(gt * s))
    return tmp_path / "pred", tmp_path / "gt"


def test_isp_folder_metrics(isp_dirs):
    pred_dir, gt_dir, pairs = isp_dirs
    seen = []
    got = evaluate_dirs(pred_dir, gt_dir, ISP, progress=lambda d, t, n: seen.append((d, t, n)))
    assert set(got) == {"psnr", "ssim", "ms_ssim", "images"} and got["images"] == 2
    want_psnr = np.mean([peak_signal_noise_ratio(g, p, data_range=255) for p, g in pairs.values()])
    assert got["psnr"] == pytest.approx(want_psnr, abs=1e-9)
    assert got["ms_ssim"] == pytest.approx(np.mean([ms_ssim(p, g) for p, g in pairs.values()]), abs=1e-12)
    assert seen == [(1, 2, "0.png"), (2, 2, "1.png")]


def test_depth_folder_metrics_per_image_and_pooled(depth_dirs):
    pred_dir, gt_dir = depth_dirs
    per_image = evaluate_dirs(pred_dir, gt_dir, DEPTH, per_image=True)
    # constant scales 1.25 and 0.8: REL |s - 1| each, si-RMSE 0
    assert per_image["rel"] == pytest.approx((0.25 + 0.2) / 2, rel=1e-12)
    assert per_image["si_rmse"] == pytest.approx(0.0, abs=1e-7)
    assert set(per_image["per_image"]) == {"0.png", "1.png"}
    pooled = evaluate_dirs(pred_dir, gt_dir, DEPTH, pooled=True)
    assert pooled["images"] == 2 and pooled["skipped"] == 0
    assert pooled["si_rmse"] > 0.1  # two different scales pooled are no longer scale-invariant


def test_mismatched_names_sizes_dtypes_and_folders(tmp_path, isp_dirs):
    pred_dir, gt_dir, pairs = isp_dirs
    _write_rgb(pred_dir, "extra.png", pairs["0.png"][0])
    with pytest.raises(MaikitError, match="extra.png"):
        evaluate_dirs(pred_dir, gt_dir, ISP)
    (pred_dir / "extra.png").unlink()
    (pred_dir / "1.png").unlink()
    with pytest.raises(MaikitError, match=r"gt/1\.png: no prediction"):
        evaluate_dirs(pred_dir, gt_dir, ISP)
    _write_rgb(pred_dir, "1.png", pairs["1.png"][0][:-2])
    with pytest.raises(MaikitError, match=r"pred/1\.png: size 168x162"):
        evaluate_dirs(pred_dir, gt_dir, ISP)
    _write_depth(pred_dir, "1.png", pairs["1.png"][0][..., 0])
    with pytest.raises(MaikitError, match=r"pred/1\.png: expected a uint8 with 3 channel"):
        evaluate_dirs(pred_dir, gt_dir, ISP)
    with pytest.raises(MaikitError, match="folder not found"):
        evaluate_dirs(tmp_path / "nope", gt_dir, ISP)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MaikitError, match="no PNG files"):
        evaluate_dirs(pred_dir, tmp_path / "empty", ISP)
    with pytest.raises(MaikitError, match="pooled"):
        evaluate_dirs(pred_dir, gt_dir, ISP, pooled=True)


def test_small_isp_images_name_the_file(tmp_path):
    img = np.zeros((100, 100, 3), np.uint8)
    _write_rgb(tmp_path / "p", "a.png", img)
    _write_rgb(tmp_path / "g", "a.png", img)
    with pytest.raises(MaikitError, match=r"p/a\.png: MS-SSIM"):
        evaluate_dirs(tmp_path / "p", tmp_path / "g", ISP)


def test_cli_metrics_isp_json_and_table(isp_dirs):
    pred_dir, gt_dir, _ = isp_dirs
    res = runner.invoke(app, ["metrics", "isp", "--pred", str(pred_dir), "--gt", str(gt_dir), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"psnr", "ssim", "ms_ssim", "images"} and data["images"] == 2
    table = runner.invoke(app, ["metrics", "isp", "--pred", str(pred_dir), "--gt", str(gt_dir)])
    assert table.exit_code == 0 and "MS-SSIM" in table.stdout


def test_cli_metrics_depth_json_pooled_and_per_image(depth_dirs):
    pred_dir, gt_dir = depth_dirs
    res = runner.invoke(app, ["metrics", "depth", "--pred", str(pred_dir), "--gt", str(gt_dir), "--pooled", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"si_rmse", "rmse", "log10", "rel", "images", "skipped"}
    assert data == evaluate_dirs(pred_dir, gt_dir, DEPTH, pooled=True)
    # independently: every valid pixel of image 0 has ln(pred/gt) = ln 1.25, of image 1 ln 0.8 =
    # -ln 1.25, as many of each; pooled, their mean is 0 and si-RMSE is ln 1.25
    assert (data["images"], data["skipped"]) == (2, 0)
    assert data["si_rmse"] == pytest.approx(np.log(1.25), rel=1e-9)
    assert data["rel"] == pytest.approx(0.225, rel=1e-9) and data["log10"] == pytest.approx(np.log10(1.25), rel=1e-9)
    gts = [cv2.imread(str(gt_dir / f"{i}.png"), cv2.IMREAD_UNCHANGED).astype(float) for i in range(2)]
    errs = np.concatenate([((g - np.rint(g * s)) / 1000.0)[g > 1] for g, s in zip(gts, (1.25, 0.8))])
    assert data["rmse"] == pytest.approx(np.sqrt(np.mean(errs ** 2)), rel=1e-9)
    per_image = json.loads(runner.invoke(app, ["metrics", "depth", "--pred", str(pred_dir), "--gt", str(gt_dir),
                                               "--json"]).stdout)
    assert per_image == evaluate_dirs(pred_dir, gt_dir, DEPTH) and per_image["si_rmse"] == pytest.approx(0, abs=1e-7)


def test_cli_mismatched_names_exit_1_naming_the_file(isp_dirs):
    pred_dir, gt_dir, pairs = isp_dirs
    (pred_dir / "1.png").rename(pred_dir / "7.png")
    res = runner.invoke(app, ["metrics", "isp", "--pred", str(pred_dir), "--gt", str(gt_dir), "--json"])
    assert res.exit_code == 1
    assert "7.png" in res.stderr and "Traceback" not in res.output
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
