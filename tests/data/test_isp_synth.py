"""Synthetic ISP data: the unprocessing pipeline, the written dataset, and the CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

from maikit.cli import app
from maikit.data.check import check_dataset
from maikit.data.isp import IspDataset
from maikit.data.synth_isp import CameraParams, add_noise, random_camera, synth_isp, synth_raw, unprocess
from maikit.errors import MaikitError
from maikit.tasks import DEPTH, ISP

runner = CliRunner()


def forward_isp(linear_cam: np.ndarray, cam: CameraParams) -> np.ndarray:
    """Reference camera pipeline: WB gains, camera->sRGB matrix, gamma 1/2.2, smoothstep."""
    x = linear_cam * np.array([cam.red_gain, 1.0, cam.blue_gain]) * cam.rgb_gain
    x = x @ np.linalg.inv(cam.rgb2cam).T
    x = np.clip(x, 1e-8, 1.0) ** (1 / 2.2)
    return 3 * x**2 - 2 * x**3


def test_unprocess_inverts_a_camera_pipeline():
    rng = np.random.default_rng(0)
    srgb = rng.integers(20, 200, (32, 32, 3), dtype=np.uint8)
    for _ in range(5):
        cam = random_camera(rng)
        lin = unprocess(srgb, cam).astype(np.float64)
        ok = (lin > 1e-6).all(-1) & (lin < 1 - 1e-6).all(-1) & (srgb.mean(-1) < 200)
        back = forward_isp(lin, cam)
        assert ok.mean() > 0.5
        np.testing.assert_allclose(back[ok], srgb[ok] / 255.0, atol=2e-3)


def test_camera_distribution_and_noise():
    rng = np.random.default_rng(1)
    cams = [random_camera(rng) for _ in range(2000)]
    for cam in cams[:20]:
        np.testing.assert_allclose(cam.rgb2cam.sum(axis=1), 1.0)
    red = np.array([c.red_gain for c in cams])
    blue = np.array([c.blue_gain for c in cams])
    shot = np.array([c.shot_noise for c in cams])
    read = np.array([c.read_noise for c in cams])
    assert red.min() >= 1.9 and red.max() <= 2.4 and blue.min() >= 1.5 and blue.max() <= 1.9
    assert shot.min() >= 1e-4 and shot.max() <= 0.012
    resid = np.log(read) - 2.18 * np.log(shot)
    assert resid.mean() == pytest.approx(1.20, abs=0.03) and resid.std() == pytest.approx(0.26, abs=0.02)
    assert np.median(1 / np.array([c.rgb_gain for c in cams])) == pytest.approx(0.8, abs=0.01)

    cam = cams[0]
    flat = np.full((200, 200), 0.5, np.float32)
    noisy = add_noise(flat, cam, rng)
    assert noisy.std() == pytest.approx(np.sqrt(0.5 * cam.shot_noise + cam.read_noise), rel=0.05)
    raw = synth_raw(np.full((8, 8, 3), 255, np.uint8), cam, rng)
    assert raw.dtype == np.uint16 and raw.max() <= 1023 and raw.min() > 900  # white stays near 1020


def test_synth_check_load_round_trip(tmp_path):
    root = tmp_path / "syn"
    summary = synth_isp(root, 6, seed=3, val_fraction=0.34, full_res=1)
    assert (summary["train"], summary["val"], summary["test"]) == (4, 2, 1)
    rep = check_dataset(root, ISP)
    assert rep.problems == [] and rep.pairs == 7

    meta = json.loads((root / "synth.json").read_text())
    assert meta["seed"] == 3 and set(meta["photos"]) == {"train", "val", "test"}
    assert not set(meta["photos"]["train"]) & set(meta["photos"]["val"])
    for split in ("train", "val"):
        assert {s["photo"] for s in meta["samples"][split]} <= set(meta["photos"][split])

    # every val target is the recorded crop of a held-out photo (read independently)
    photos = {"astronaut": skimage.data.astronaut(), "coffee": skimage.data.coffee(),
              "chelsea": skimage.data.chelsea(), "rocket": skimage.data.rocket(),
              "immunohistochemistry": skimage.data.immunohistochemistry()}
    left, right, _ = skimage.data.stereo_motorcycle()
    photos |= {"motorcycle_left": left, "motorcycle_right": right}
    for s in meta["samples"]["val"]:
        tgt = cv2.imread(str(root / "val" / "fujifilm" / s["name"]))[:, :, ::-1]
        np.testing.assert_array_equal(tgt, photos[s["photo"]][s["top"] : s["top"] + 256, s["left"] : s["left"] + 256])

    x, y = IspDataset(root / "train", patch=128, augment=True)[0]
    assert x.shape == (4, 128, 128) and y.shape == (3, 256, 256)
    xt, yt = IspDataset(root / "test")[0]
    assert yt.shape[1] % 32 == 0 and yt.shape[2] % 32 == 0 and xt.shape[1] * 2 == yt.shape[1]


def test_seeded_and_refuses_to_overwrite(tmp_path):
    a = synth_isp(tmp_path / "a", 2, seed=5, val_fraction=0.0, patch=32)
    synth_isp(tmp_path / "b", 2, seed=5, val_fraction=0.0, patch=32)
    synth_isp(tmp_path / "c", 2, seed=6, val_fraction=0.0, patch=32)
    assert a["val"] == 0
    raw = lambda d: (tmp_path / d / "train" / "mediatek_raw" / "1.png").read_bytes()  # noqa: E731
    assert raw("a") == raw("b") and raw("a") != raw("c")
    with pytest.raises(MaikitError, match="already holds a dataset"):
        synth_isp(tmp_path / "a", 2, seed=5)


def test_user_photos(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"p{i}.jpg"), rng.integers(0, 256, (40, 70, 3), dtype=np.uint8))
    s = synth_isp(tmp_path / "out", 3, val_fraction=0.34, photos=tmp_path, patch=32, full_res=1)
    assert len(s["photos"]["val"]) == 1 and len(s["photos"]["train"]) == 2
    assert check_dataset(tmp_path / "out", ISP).problems == []
    assert cv2.imread(str(tmp_path / "out" / "test" / "fujifilm" / "0.png")).shape[:2] == (32, 64)

    (tmp_path / "one").mkdir()
    cv2.imwrite(str(tmp_path / "one" / "a.png"), np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(MaikitError, match="at least 2 scenes"):
        synth_isp(tmp_path / "o2", 4, val_fraction=0.5, photos=tmp_path / "one", patch=32)
    (tmp_path / "one" / "b.jpg").write_text("nope")
    with pytest.raises(MaikitError, match="unreadable photo") as e:
        synth_isp(tmp_path / "o3", 2, photos=tmp_path / "one", patch=32)
    assert e.value.file.endswith("b.jpg")


def test_cli_synth(tmp_path):
    res = runner.invoke(app, ["data", "synth", "isp", "--out", str(tmp_path / "d"), "--count", "3", "--patch", "32", "--json"])
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["train"] + out["val"] == 3 and out["root"] == str(tmp_path / "d")
    res = runner.invoke(app, ["data", "synth", "isp", "--out", str(tmp_path / "e"), "--count", "2", "--patch", "32"])
    assert res.exit_code == 0 and "mai data check" in res.stdout

    for args, code in ((["synth", "depth", "--out", str(tmp_path / "f"), "--photos", str(tmp_path)], 2),  # usage
                       (["synth", "depth", "--out", str(tmp_path / "f"), "--full-res", "2"], 2),
                       (["sample-real", "isp", "--out", str(tmp_path / "g")], 1),  # input problems
                       (["synth", "isp", "--out", str(tmp_path / "d"), "--count", "3"], 1)):
        res = runner.invoke(app, ["data", *args])
        assert res.exit_code == code and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "f").exists()


def test_cli_wires_depth_commands(tmp_path):
    res = runner.invoke(app, ["data", "synth", "depth", "--out", str(tmp_path / "d"), "--count", "2", "--json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["train"] + json.loads(res.stdout)["val"] == 2
    assert check_dataset(tmp_path / "d", DEPTH).problems == []
    res = runner.invoke(app, ["data", "sample-real", "depth", "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.stderr
    assert check_dataset(tmp_path / "r", DEPTH).pairs >= 1
