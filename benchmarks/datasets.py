"""Dataset builders: alignment accuracy, stereo depth accuracy, and time per megapixel.

    .venv/bin/python benchmarks/datasets.py [--out DIR] [--upscale 4] [--json]

1. ``mai data align`` accuracy: for each scikit-image photo, a pair with known geometry as
   in ``tests/data/test_align.py`` (RAW by unprocessing; target re-rendered, warped by a
   1.3x homography and a smooth 3 px non-rigid field); RMS error of the recovered map
   against the truth over the kept 64 px patches, in target pixels and in RAW pixels.
2. ``mai data from-stereo`` accuracy on the real Middlebury 2014 pair that scikit-image
   ships (its ground-truth disparities, quarter-size calibration): share of ground-truth
   pixels we also mark valid, and si-RMSE / RMSE / REL on the pixels both mark valid; and
   on four scenes of the project's depth synthesiser rendered by two cameras 120 mm apart
   (ZED VGA geometry) against the exact depth.
3. Time per megapixel of each command's library function (what the CLI calls), on inputs
   enlarged ``--upscale`` times so fixed costs do not dominate: align on the astronaut pair
   (DNG input, patch 256), from-stereo on the Middlebury pair at half the full size
   (1482x1000) with the scaled calibration, and isp develop of a 12 MP DNG with
   ``isp/smallnet`` (random weights) in PyTorch and as a fixed-shape 1x544x960x4 .tflite.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))
from test_stereo import MIDDLEBURY_CALIB  # noqa: E402  (the real calib.txt, as the tests use it)

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
PATCH = 64


def alignment_accuracy() -> list[dict]:
    from skimage import data
    from test_align import make_pair

    from maikit.data.align import Skip, align_pair

    rows = []
    for name in PHOTOS:
        raw, target, truth = make_pair(getattr(data, name)())
        t0 = time.perf_counter()
        try:
            res = align_pair(raw, target, patch=PATCH)
        except Skip as e:
            rows.append({"photo": name, "skipped": str(e)})
            continue
        seconds = time.perf_counter() - t0
        kept = np.zeros(raw.shape, bool)
        for p in res.patches:
            if p.kept:
                kept[p.top:p.top + PATCH, p.left:p.left + PATCH] = True
        err = np.linalg.norm(res.map_xy - truth, axis=2)
        rms_t = float(np.sqrt(np.mean(err[kept] ** 2))) if kept.any() else None
        rows.append({
            "photo": name, "raw_hw": list(raw.shape), "matches": res.stats["matches"],
            "inlier_ratio": res.stats["inlier_ratio"], "homography_residual_px": res.stats["residual_px"],
            "kept": sum(p.kept for p in res.patches), "patches": len(res.patches),
            "rms_target_px": rms_t, "rms_raw_px": None if rms_t is None else rms_t * res.stats["target_scale"],
            "rms_covered_target_px": float(np.sqrt(np.mean(err[res.covered] ** 2))), "seconds": round(seconds, 3),
        })
    return rows


def middlebury(tmp: Path) -> dict:
    from skimage import data

    from maikit.data.real import disparity_to_depth_mm
    from maikit.data.stereo import read_calibration, stereo_depth
    from maikit.metrics.depth import depth_metrics

    left, right, disp = data.stereo_motorcycle()
    (tmp / "calib.txt").write_text(MIDDLEBURY_CALIB)
    calib = read_calibration(tmp / "calib.txt", (left.shape[1], left.shape[0]))
    _, depth, stats = stereo_depth(left, right, calib)
    depth = np.rint(depth)  # as written to the uint16 file
    gt = disparity_to_depth_mm(disp, 994.978, 31.086, 193.001)
    both = (gt > 0) & (depth > 0)
    m = depth_metrics(np.where(both, depth, 0), np.where(both, gt, 0))
    return {"gt_valid": round(float((gt > 0).mean()), 4), "ours_valid": round(float((depth > 0).mean()), 4),
            "share_of_gt_also_valid": round(float(both.sum() / (gt > 0).sum()), 4),
            **{k: round(v, 4) for k, v in m.items()}, **stats}


def synthetic_stereo(seeds=(0, 1, 2, 3)) -> list[dict]:
    from maikit.data.stereo import StereoCalibration, stereo_depth
    from maikit.data.synth_depth import SynthParams, random_scene, render_scene, scene_rng
    from maikit.metrics.depth import depth_metrics

    w, h, f, baseline = 672, 376, 336.0, 120.0
    k = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    calib = StereoCalibration(kind="zed", width=w, height=h, k_left=k, k_right=k, baseline_mm=baseline,
                              rectified=False, translation_mm=np.array([-baseline, 0, 0]))
    rows = []
    for seed in seeds:
        params = dataclasses.replace(SynthParams(width=w, height=h), focal_px=f, focal_jitter=0.0)
        scene = random_scene(scene_rng(seed, 0), params)
        cam = scene.camera
        pos = tuple(np.asarray(cam.position) + np.asarray(cam.rotation)[:, 0] * baseline / 1000.0)
        lv = render_scene(scene)
        rv = render_scene(dataclasses.replace(scene, camera=dataclasses.replace(cam, position=pos)))
        _, depth, _ = stereo_depth(lv.rgb, rv.rgb, calib)
        exact = np.where(lv.depth_mm > 0, lv.depth_m * 1000.0, 0.0)
        both = (exact > 0) & (depth > 0)
        m = depth_metrics(np.where(both, depth, 0), np.where(both, exact, 0))
        rows.append({"seed": seed, "median_depth_m": round(float(np.median(exact[exact > 0])) / 1000, 2),
                     "share_of_exact_also_valid": round(float(both.sum() / (exact > 0).sum()), 4),
                     **{k: round(v, 4) for k, v in m.items()}})
    return rows


def _dng(path: Path, mosaic: np.ndarray) -> Path:
    from _dng import write_dng

    return write_dng(path, mosaic, "RGGB", 1023, [0], 16)


def timings(tmp: Path, upscale: int) -> dict:
    import torch
    from skimage import data
    from test_align import make_pair

    from maikit.data.align import align_dataset
    from maikit.data.stereo import from_stereo
    from maikit.train.develop import develop

    out = {}
    # align: astronaut enlarged
    photo = cv2.resize(data.astronaut(), None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    raw, target, _ = make_pair(photo)
    (tmp / "raw").mkdir()
    (tmp / "rgb").mkdir()
    _dng(tmp / "raw" / "a.dng", raw)
    cv2.imwrite(str(tmp / "rgb" / "a.jpg"), target[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    t0 = time.perf_counter()
    s = align_dataset(tmp / "raw", tmp / "rgb", tmp / "isp", patch=256)
    dt = time.perf_counter() - t0
    mp = raw.size / 1e6
    out["align"] = {"raw_megapixels": round(mp, 2), "target_megapixels": round(target.shape[0] * target.shape[1] / 1e6, 2),
                    "seconds": round(dt, 2), "s_per_mp": round(dt / mp, 3), "patches": s["patches"],
                    "rejections": s["pairs"][0].get("rejections")}
    # from-stereo: Middlebury at half the full size
    left, right, _ = data.stereo_motorcycle()
    for side, img in (("l", left), ("r", right)):
        (tmp / side).mkdir()
        big = cv2.resize(img, (1482, 1000), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(tmp / side / "m.png"), big[:, :, ::-1])
    (tmp / "calib.txt").write_text(MIDDLEBURY_CALIB)
    t0 = time.perf_counter()
    s = from_stereo(tmp / "l", tmp / "r", tmp / "calib.txt", tmp / "depth")
    dt = time.perf_counter() - t0
    mp = 1482 * 1000 / 1e6
    out["from_stereo"] = {"megapixels": mp, "seconds": round(dt, 2), "s_per_mp": round(dt / mp, 3),
                          "num_disparities": s["frames"][0]["num_disparities"], "valid": s["frames"][0]["valid"]}
    # develop: a 12 MP DNG (3000x4000), smallnet in PyTorch and as a fixed-shape .tflite
    from maikit.data.synth_isp import random_camera, synth_raw
    from maikit.models import create_model
    from maikit.train.checkpoint import save_checkpoint

    photo = cv2.resize(data.astronaut(), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    _dng(tmp / "photos" / "p.dng", synth_raw(photo, random_camera(rng), rng))
    torch.manual_seed(0)
    model = create_model("isp/smallnet").eval()
    save_checkpoint(tmp / "smallnet.pt", {"model": model.state_dict(), "model_name": "isp/smallnet", "task": "isp",
                                          "data": {"raw_convention": "mai21"}})
    from maikit.export.tflite import convert_to_tflite

    convert_to_tflite(model, torch.zeros(1, 4, 544, 960), tmp / "smallnet.tflite")
    for label, m in (("develop_torch", tmp / "smallnet.pt"), ("develop_tflite", tmp / "smallnet.tflite")):
        t0 = time.perf_counter()
        r = develop(tmp / "photos" / "p.dng", m, tmp / label, threads=2)
        dt = time.perf_counter() - t0
        mp = 12.0
        out[label] = {"megapixels": mp, "seconds": round(dt, 2), "s_per_mp": round(dt / mp, 3),
                      "model": r.model}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upscale", type=int, default=4, help="enlargement of the photo timed for align")
    ap.add_argument("--skip-timing", action="store_true", help="accuracy figures only")
    ap.add_argument("--timing-only", action="store_true", help="times per megapixel only")
    args = ap.parse_args()
    if args.upscale < 1:
        ap.error("--upscale must be at least 1")
    if args.skip_timing and args.timing_only:
        ap.error("--skip-timing and --timing-only leave nothing to run")
    result = {}
    if not args.timing_only:
        result["alignment"] = alignment_accuracy()
        print(json.dumps({"alignment": result["alignment"]}, indent=1), flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            result["middlebury"] = middlebury(Path(tmp))
            print(json.dumps({"middlebury": result["middlebury"]}, indent=1), flush=True)
        result["synthetic_stereo"] = synthetic_stereo()
        print(json.dumps({"synthetic_stereo": result["synthetic_stereo"]}, indent=1), flush=True)
    if not args.skip_timing:
        with tempfile.TemporaryDirectory() as tmp:
            result["timing"] = timings(Path(tmp), args.upscale)
        print(json.dumps({"timing": result["timing"]}, indent=1), flush=True)


if __name__ == "__main__":
    main()
