"""Real data that ships offline: the Middlebury 2014 "motorcycle" RGB-D sample.

scikit-image bundles the rectified stereo pair with its ground-truth disparity (docs/references.md#real-data).
:func:`sample_real_depth` turns it into one validation pair in the official depth format
(480x640 uint8 RGB, uint16 millimetres with 0 = unknown), so metrics, eval and demo
commands can run on a real photograph with real metric depth.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from maikit.data.depth import DEPTH_HW, write_depth_mm
from maikit.errors import MaikitError
from maikit.io import write_png
from maikit.taskspec import DEPTH

SAMPLE_NAME = "motorcycle"
SAMPLE_SPLIT = "val"

# Middlebury 2014 "Motorcycle" calibration at full size (docs/references.md#real-data): width 2964 px.
MIDDLEBURY_FULL_WIDTH = 2964
MIDDLEBURY_FOCAL_PX = 3979.911
MIDDLEBURY_DOFFS_PX = 124.343  # x-difference of the two principal points
MIDDLEBURY_BASELINE_MM = 193.001


def disparity_to_depth_mm(disparity: np.ndarray, focal_px: float, doffs_px: float, baseline_mm: float) -> np.ndarray:
    """Middlebury's relation ``Z = baseline * f / (d + doffs)`` in millimetres; non-finite
    or non-positive disparities become 0 (unknown)."""
    d = np.asarray(disparity, np.float64)
    ok = np.isfinite(d) & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = baseline_mm * focal_px / (d + doffs_px)
    return np.where(ok, z, 0.0)


def cover_crop_box(src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Centred (top, left, height, width) of the largest ``dst`` aspect window in ``src``."""
    sh, sw = src_hw
    dh, dw = dst_hw
    if sw * dh > sh * dw:  # source is wider: crop columns
        w = int(round(sh * dw / dh))
        return 0, (sw - w) // 2, sh, w
    h = int(round(sw * dh / dw))
    return (sh - h) // 2, 0, h, sw


def _load_motorcycle() -> tuple[np.ndarray, np.ndarray]:
    try:
        from skimage import data
    except ImportError:  # pragma: no cover - scikit-image is a dependency
        raise MaikitError("scikit-image is needed for the Middlebury sample (pip install scikit-image)") from None
    try:
        left, _right, disparity = data.stereo_motorcycle()
    except Exception as e:  # a broken or stripped install
        raise MaikitError(f"cannot load skimage.data.stereo_motorcycle ({type(e).__name__}: {e})") from None
    return np.asarray(left), np.asarray(disparity)


def motorcycle_rgbd(hw: tuple[int, int] = DEPTH_HW) -> tuple[np.ndarray, np.ndarray, dict]:
    """The Middlebury motorcycle as (HxWx3 uint8 RGB, HxW float mm with 0 = unknown, info).

    Scale check. The bundled copy is 500x741; 2964 / 741 = 4 exactly, and scikit-image
    documents it as the full-size images downscaled by 4, with disparities and calibration
    valid at that size (its docstring lists f = 994.978 px = 3979.911 / 4 and principal
    point difference 31.086 px = 124.343 / 4). So f and doffs are divided by the width
    ratio while the disparities are used as stored (the baseline is a length and does not
    scale). The result is 2.1-5.0 m with a median of about 2.7 m, a room-scale scene as
    photographed. Using the full-size f and doffs with the quarter-size disparities instead
    would give 4.2-5.8 m: still "a few metres", so the range alone cannot tell the two
    apart, but the near-far ratio would shrink from 2.4 to 1.4, flattening the scene.
    :func:`sample_real_depth` still rejects a median outside 1-10 m, which catches a
    bundled copy at another size (a wrong factor of 4 or more in f or d).

    The frame is then centre-cropped to the 4:3 aspect of ``hw`` and resized (area filter
    for the photo, nearest for depth so unknown pixels never blend into valid ones);
    resizing changes the intrinsics but not the metric z-depth.
    """
    left, disparity = _load_motorcycle()
    if disparity.ndim == 3:
        disparity = disparity[..., 0]
    if left.shape[:2] != disparity.shape:
        raise MaikitError(f"motorcycle sample: image {left.shape[:2]} and disparity {disparity.shape} differ")
    scale = MIDDLEBURY_FULL_WIDTH / left.shape[1]
    f = MIDDLEBURY_FOCAL_PX / scale
    doffs = MIDDLEBURY_DOFFS_PX / scale
    depth_mm = disparity_to_depth_mm(disparity, f, doffs, MIDDLEBURY_BASELINE_MM)

    top, lft, ch, cw = cover_crop_box(left.shape[:2], hw)
    rgb = left[top : top + ch, lft : lft + cw]
    depth_mm = depth_mm[top : top + ch, lft : lft + cw]
    out_h, out_w = hw
    rgb = cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_AREA)
    depth_mm = cv2.resize(depth_mm, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
    info = {
        "source": "Middlebury 2014 'Motorcycle' (Scharstein et al., GCPR 2014), bundled with scikit-image",
        "bundled_size": [int(left.shape[0]), int(left.shape[1])],
        "scale_from_full_size": scale,
        "focal_px": f,
        "doffs_px": doffs,
        "baseline_mm": MIDDLEBURY_BASELINE_MM,
        "crop": {"top": top, "left": lft, "height": ch, "width": cw},
    }
    return rgb, depth_mm, info


def sample_real_depth(out: Path) -> dict:
    """Write the Middlebury motorcycle as ``OUT/val/{rgb,depth}/motorcycle.png``.

    Returns a summary with the paths, the valid fraction and the metric depth range in
    metres. See :func:`motorcycle_rgbd` for the calibration and the scale check.
    """
    out = Path(out)
    rgb, depth_mm, info = motorcycle_rgbd(DEPTH_HW)
    depth_u16 = np.clip(np.rint(depth_mm), 0, 65535).astype(np.uint16)
    valid = depth_u16 > 0
    if not valid.any():
        raise MaikitError("motorcycle sample: no valid depth after conversion")
    metres = depth_u16[valid].astype(np.float64) / 1000.0
    median = float(np.median(metres))
    # the scene spans a few metres; anything else means the bundled copy changed scale
    if not 1.0 <= median <= 10.0 or not math.isfinite(median):
        raise MaikitError(f"motorcycle sample: implausible median depth {median:.2f} m (calibration scale mismatch?)")

    rgb_path = out / SAMPLE_SPLIT / DEPTH.input_dir / f"{SAMPLE_NAME}.png"
    depth_path = out / SAMPLE_SPLIT / DEPTH.target_dir / f"{SAMPLE_NAME}.png"
    write_png(rgb_path, rgb)
    write_depth_mm(depth_path, depth_u16)
    return {
        "root": str(out),
        "split": SAMPLE_SPLIT,
        "name": SAMPLE_NAME,
        "rgb": str(rgb_path),
        "depth": str(depth_path),
        "height": int(rgb.shape[0]),
        "width": int(rgb.shape[1]),
        "valid_fraction": round(float(valid.mean()), 4),
        "depth_min_m": round(float(metres.min()), 3),
        "depth_median_m": round(median, 3),
        "depth_max_m": round(float(metres.max()), 3),
        **info,
    }
