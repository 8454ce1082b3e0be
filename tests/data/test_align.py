"""`mai data align` on pairs made from real photos with a known geometry.

Each pair: a real photo (scikit-image) becomes the phone RAW through the project's
unprocessing (10-bit RGGB mosaic with noise); the target is the same photo with another
tone/colour rendering, warped by a known homography (1.3x larger, rotated, shifted, slight
perspective) composed with a smooth non-rigid field of up to 3 px. The truth is the target
coordinate of every RAW pixel.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from maikit.cli import app
from maikit.data.synth_isp import random_camera, synth_raw
from maikit.tasks import ISP

HOMOGRAPHY = np.array([[1.3 * np.cos(0.05), -1.3 * np.sin(0.05), 20.0],
                       [1.3 * np.sin(0.05), 1.3 * np.cos(0.05), -15.0], [1e-5, -2e-5, 1.0]])
PATCH = 64


def _field(x, y):
    """Smooth non-rigid displacement (RAW px), applied before the homography."""
    return (3.0 * np.sin(2 * np.pi * x / 300 + 0.3) * np.cos(2 * np.pi * y / 250),
            3.0 * np.cos(2 * np.pi * x / 280) * np.sin(2 * np.pi * y / 320 + 1.0))


def _project(hm, x, y):
    den = hm[2, 0] * x + hm[2, 1] * y + hm[2, 2]
    return (hm[0, 0] * x + hm[0, 1] * y + hm[0, 2]) / den, (hm[1, 0] * x + hm[1, 1] * y + hm[1, 2]) / den


def make_pair(photo: np.ndarray, seed: int = 0):
    """(RAW mosaic uint16, target uint8 RGB, truth HxWx2 target coordinates of each RAW pixel)."""
    h, w = photo.shape[0] // 2 * 2, photo.shape[1] // 2 * 2
    photo = np.ascontiguousarray(photo[:h, :w, :3])
    rng = np.random.default_rng(seed)
    raw = synth_raw(photo, random_camera(rng), rng)
    # target pixel q shows photo point x with x + field(x) = H^-1 q (solved by fixed-point iteration)
    th, tw = int(h * 1.3) + 20, int(w * 1.3) + 30
    qy, qx = np.mgrid[0:th, 0:tw].astype(np.float64)
    ux, uy = _project(np.linalg.inv(HOMOGRAPHY), qx, qy)
    x, y = ux, uy
    for _ in range(30):
        dx, dy = _field(x, y)
        x, y = ux - dx, uy - dy
    tone = (photo.astype(np.float32) / 255) ** 0.8
    grey = tone.mean(axis=2, keepdims=True)
    tone = np.clip(grey + 1.3 * (tone - grey), 0, 1) * np.array([1.0, 0.97, 0.92], np.float32)
    tone = (tone * 255 + 0.5).astype(np.uint8)
    target = cv2.remap(tone, x.astype(np.float32), y.astype(np.float32), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    ry, rx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx, dy = _field(rx, ry)
    truth = np.stack(_project(HOMOGRAPHY, rx + dx, ry + dy), axis=-1)
    return raw, target, truth


def _photo(name):
    from skimage import data

    return getattr(data, name)()


@pytest.mark.parametrize("name", ["chelsea", "astronaut"])
def test_recovered_geometry_within_one_pixel_on_kept_patches(name):
    from maikit.data.align import align_pair

    raw, target, truth = make_pair(_photo(name))
    res = align_pair(raw, target, patch=PATCH)
    kept = np.zeros(raw.shape, bool)
    for p in res.patches:
        if p.kept:
            kept[p.top:p.top + PATCH, p.left:p.left + PATCH] = True
    assert kept.mean() > 0.4, [p.reason for p in res.patches]
    err = np.linalg.norm(res.map_xy - truth, axis=2)  # in target pixels (1.3x smaller than RAW pixels)
    rms = float(np.sqrt(np.mean(err[kept] ** 2)))
    assert rms <= 1.0, rms
    # the global stage alone leaves the non-rigid part: the flow must have removed most of it
    assert res.stats["inlier_ratio"] > 0.5 and res.stats["residual_px"] > rms * 0.77


def test_align_cli_writes_a_checked_dataset_and_skips_an_unrelated_pair(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _dng import write_dng

    from maikit.data.check import check_dataset
    from maikit.io import read_png

    raw_dir, rgb_dir, out = tmp_path / "raw", tmp_path / "rgb", tmp_path / "out"
    raw_dir.mkdir()
    rgb_dir.mkdir()
    raw, target, _ = make_pair(_photo("chelsea"))
    write_dng(raw_dir / "cat.dng", raw, "RGGB", 1023, [0], 16)  # a DNG phone RAW, 10-bit values
    cv2.imwrite(str(rgb_dir / "cat.jpg"), target[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    raw2, _, _ = make_pair(_photo("astronaut"), seed=1)
    _, target2, _ = make_pair(_photo("coffee"), seed=2)
    cv2.imwrite(str(raw_dir / "mixed.png"), raw2)  # a layout RAW PNG, with an unrelated target
    cv2.imwrite(str(rgb_dir / "mixed.png"), target2[:, :, ::-1])
    res = CliRunner().invoke(app, ["data", "align", "--raw", str(raw_dir), "--rgb", str(rgb_dir), "--out", str(out),
                                   "--split", "val", "--patch", str(PATCH), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    by_name = {p["name"]: p for p in summary["pairs"]}
    assert by_name["cat.dng"]["status"] == "aligned" and by_name["cat.dng"]["kept"] > 5
    assert by_name["mixed.png"]["status"] == "skipped" and "unrelated" in by_name["mixed.png"]["reason"]
    assert check_dataset(out, ISP).ok
    files = sorted((out / "val" / "mediatek_raw").glob("*.png"))
    assert len(files) == by_name["cat.dng"]["kept"] == summary["patches"]
    assert read_png(files[0]).shape == (PATCH, PATCH) and read_png(files[0]).dtype == np.uint16
    report = json.loads((out / "align" / "val" / "cat.json").read_text())
    assert report["global"]["matches"] >= report["global"]["inliers"] > 0
    assert {p["kept"] for p in report["patches"]} == {True, False}
    assert json.loads((out / "align" / "val" / "mixed.json").read_text())["status"] == "skipped"
    assert (out / "align" / "val.csv").read_text().splitlines()[0].startswith("name,status,reason")
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    again = CliRunner().invoke(app, ["data", "align", "--raw", str(raw_dir), "--rgb", str(rgb_dir), "--out", str(out),
                                     "--split", "val", "--patch", str(PATCH)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing rewritten


def test_unreadable_raw_is_a_one_line_error(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "rgb").mkdir()
    bad = tmp_path / "raw" / "a.dng"
    bad.write_bytes(b"not a raw file")
    cv2.imwrite(str(tmp_path / "rgb" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    res = CliRunner().invoke(app, ["data", "align", "--raw", str(tmp_path / "raw"), "--rgb", str(tmp_path / "rgb"),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and "not a RAW photo" in lines[0]
    assert not (tmp_path / "out" / "train").exists()
