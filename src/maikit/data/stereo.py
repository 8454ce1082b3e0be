"""Depth data from a stereo camera, as the depth challenge's organisers made theirs (a ZED).

``mai data from-stereo`` turns left/right photo pairs and the rig's calibration into the
depth layout (docs/references.md#depth-data): ``ROOT/<split>/rgb/<name>.png`` (uint8) and
``ROOT/<split>/depth/<name>.png`` (uint16 millimetres, 0 = unknown).

Calibration files (:func:`read_calibration`):

* **Middlebury 2014** ``calib.txt``: ``cam0``/``cam1`` intrinsics, ``doffs`` (x-difference
  of the principal points), ``baseline`` (mm), ``width``/``height`` (the size the values
  are for) and ``ndisp`` (disparity search range). The images are already rectified; when
  they are smaller than ``width`` (e.g. scikit-image's quarter-size copy), focal length,
  principal points, doffs and ndisp are scaled by the width ratio. ``Z = f B / (d + doffs)``.
* **ZED** ``SN<serial>.conf`` (INI): ``[LEFT_CAM_<RES>]``/``[RIGHT_CAM_<RES>]`` with fx, fy,
  cx, cy and distortion k1, k2, p1, p2, k3 for each resolution (2K 2208x1242, FHD
  1920x1080, HD 1280x720, VGA 672x376 per eye) and ``[STEREO]`` with ``Baseline`` (mm),
  ``TY``/``TZ`` (mm) and the rotation ``CV``/``RX``/``RZ`` (radians) per resolution. The
  section of the photos' size is used; the pair is rectified with OpenCV
  (``stereoRectify``, zero disparity at infinity) and ``Z = f B / d``.

Disparity: OpenCV's semi-global matcher (SGBM, 3-way) on the rectified pair, computed for
both views; a left pixel is kept only when the right view's disparity at its match agrees
within ``LR_TOLERANCE_PX`` (left-right consistency), which removes occlusions and most
mismatches. With ``wls`` the disparities are smoothed by the weighted-least-squares filter of
opencv-contrib's ``ximgproc`` (only when that module is installed). Depth outside
[``min_depth_m``, ``max_depth_m``] becomes 0.

Output size: the task's 480x640 by default, the largest 4:3 window of the rectified left
view, centred, resized (area filter for the photo, nearest for the depth so unknown pixels
never blend into valid ones), with the intrinsics adjusted and recorded in ``stereo.json``;
``keep_size`` keeps the rectified left view's own resolution (for comparing with ground
truth). Each pair is staged and renamed into place as a whole.
"""

from __future__ import annotations

import configparser
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from maikit import io as mio
from maikit.data.depth import DEPTH_HW, MAX_DEPTH_M, MIN_DEPTH_M, depth_to_uint16_mm
from maikit.data.real import cover_crop_box
from maikit.data.staging import staged
from maikit.errors import MaikitError
from maikit.taskspec import DEPTH

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MIDDLEBURY_FIELDS = ("cam0", "cam1", "doffs", "baseline", "width", "height", "ndisp")
ZED_RESOLUTIONS = {"2K": (2208, 1242), "FHD": (1920, 1080), "HD": (1280, 720), "VGA": (672, 376)}
LR_TOLERANCE_PX = 1.0
SGBM_BLOCK = 5
MAX_AUTO_DISPARITIES = 256


# --------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StereoCalibration:
    """A stereo rig at one image size. ``rectified``: the photos need no remapping (then
    ``doffs`` is the principal points' x-difference); otherwise ``rotation``/``translation``
    (right camera from left, mm) and the distortions drive ``cv2.stereoRectify``."""

    kind: str  # "middlebury" or "zed"
    width: int
    height: int
    k_left: np.ndarray
    k_right: np.ndarray
    baseline_mm: float
    doffs_px: float = 0.0
    ndisp: int | None = None
    rectified: bool = True
    dist_left: np.ndarray = field(default_factory=lambda: np.zeros(5))
    dist_right: np.ndarray = field(default_factory=lambda: np.zeros(5))
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    source: str = ""

    def at_size(self, width: int, height: int, path: str | os.PathLike | None = None) -> "StereoCalibration":
        """The calibration for photos of ``width`` x ``height`` (Middlebury: scaled copies)."""
        if (width, height) == (self.width, self.height):
            return self
        if self.kind != "middlebury":
            raise MaikitError(f"photos are {width}x{height} but the calibration is for {self.width}x{self.height}",
                              path)
        s = width / self.width
        if abs(self.height * s - height) > max(2.0, 0.01 * height):
            raise MaikitError(f"photos are {width}x{height}, not a scaled copy of the calibration's "
                              f"{self.width}x{self.height}", path)
        scale = np.diag([s, s, 1.0])
        return StereoCalibration(
            kind=self.kind, width=width, height=height, k_left=scale @ self.k_left, k_right=scale @ self.k_right,
            baseline_mm=self.baseline_mm, doffs_px=self.doffs_px * s,
            ndisp=None if self.ndisp is None else int(math.ceil(self.ndisp * s)), rectified=True, source=self.source,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in d.items()}


def _matrix(text: str, key: str, path: Path) -> np.ndarray:
    rows = [r for r in text.strip().strip("[]").split(";")]
    try:
        m = np.array([[float(v) for v in r.split()] for r in rows])
    except ValueError:
        raise MaikitError(f"`{key}` is not a 3x3 matrix like [f 0 cx; 0 f cy; 0 0 1]", path) from None
    if m.shape != (3, 3):
        raise MaikitError(f"`{key}` is not a 3x3 matrix (got {m.shape[0]} row(s))", path)
    return m


def _middlebury(text: str, path: Path) -> StereoCalibration:
    values = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            values[k.strip()] = v.strip()
    missing = [k for k in MIDDLEBURY_FIELDS if k not in values]
    if missing:
        raise MaikitError(f"Middlebury calibration lacks `{missing[0]}` (needs {', '.join(MIDDLEBURY_FIELDS)})", path)

    def number(key: str) -> float:
        try:
            return float(values[key])
        except ValueError:
            raise MaikitError(f"`{key}` is not a number: {values[key]!r}", path) from None

    k0, k1 = _matrix(values["cam0"], "cam0", path), _matrix(values["cam1"], "cam1", path)
    width, height, ndisp = number("width"), number("height"), number("ndisp")
    baseline = number("baseline")
    if min(width, height, ndisp, baseline, k0[0, 0]) <= 0:
        raise MaikitError("width, height, ndisp, baseline and the focal length must be positive", path)
    return StereoCalibration(kind="middlebury", width=int(width), height=int(height), k_left=k0, k_right=k1,
                             baseline_mm=baseline, doffs_px=number("doffs"), ndisp=int(ndisp), source=str(path))


def _zed(text: str, path: Path, size: tuple[int, int] | None) -> StereoCalibration:
    cfg = configparser.ConfigParser()
    try:
        cfg.read_string(text)
    except configparser.Error as e:
        raise MaikitError(f"unreadable ZED calibration ({str(e).splitlines()[0]})", path) from None
    sections = {s.upper(): s for s in cfg.sections()}
    available = [r for r in ZED_RESOLUTIONS if f"LEFT_CAM_{r}" in sections and f"RIGHT_CAM_{r}" in sections]
    if "STEREO" not in sections:
        raise MaikitError("ZED calibration lacks the [STEREO] section", path)
    if not available:
        raise MaikitError("ZED calibration has no [LEFT_CAM_<RES>]/[RIGHT_CAM_<RES>] sections "
                          f"(RES = {', '.join(ZED_RESOLUTIONS)})", path)
    if size is None:
        res = available[0]
    else:
        match = [r for r in available if ZED_RESOLUTIONS[r] == tuple(size)]
        if not match:
            sizes = ", ".join(f"{r} {ZED_RESOLUTIONS[r][0]}x{ZED_RESOLUTIONS[r][1]}" for r in available)
            raise MaikitError(f"photos are {size[0]}x{size[1]}; the ZED calibration covers {sizes}", path)
        res = match[0]
    stereo = cfg[sections["STEREO"]]

    def get(section, key: str, default: float | None = None) -> float:
        for k in (key, key.lower(), key.upper()):
            if k in section:
                try:
                    return float(section[k].split()[0])
                except (ValueError, IndexError):
                    raise MaikitError(f"`{key}` is not a number in [{section.name}]", path) from None
        if default is None:
            raise MaikitError(f"ZED calibration lacks `{key}` in [{section.name}]", path)
        return default

    cams = []
    for side in ("LEFT", "RIGHT"):
        sec = cfg[sections[f"{side}_CAM_{res}"]]
        k = np.array([[get(sec, "fx"), 0, get(sec, "cx")], [0, get(sec, "fy"), get(sec, "cy")], [0, 0, 1.0]])
        dist = np.array([get(sec, n, 0.0) for n in ("k1", "k2", "p1", "p2", "k3")])
        cams.append((k, dist))
    baseline = get(stereo, "Baseline")
    if baseline <= 0:
        raise MaikitError(f"`Baseline` must be positive, got {baseline:g}", path)
    rvec = np.array([get(stereo, f"RX_{res}", 0.0), get(stereo, f"CV_{res}", 0.0), get(stereo, f"RZ_{res}", 0.0)])
    rotation, _ = cv2.Rodrigues(rvec)
    translation = np.array([-baseline, get(stereo, f"TY_{res}", get(stereo, "TY", 0.0)),
                            get(stereo, f"TZ_{res}", get(stereo, "TZ", 0.0))])
    w, h = ZED_RESOLUTIONS[res]
    return StereoCalibration(kind="zed", width=w, height=h, k_left=cams[0][0], k_right=cams[1][0],
                             baseline_mm=baseline, rectified=False, dist_left=cams[0][1], dist_right=cams[1][1],
                             rotation=rotation, translation_mm=translation, source=str(path))


def read_calibration(path: str | os.PathLike, size: tuple[int, int] | None = None) -> StereoCalibration:
    """Read a Middlebury ``calib.txt`` or a ZED ``.conf`` (by its content); ``size`` = the
    photos' (width, height), used to pick the ZED section and to scale Middlebury values."""
    path = Path(path)
    text = mio.read_bytes(path).decode("utf-8", "replace")
    if re.search(r"^\s*\[[^\]]+\]\s*$", text, re.MULTILINE):
        calib = _zed(text, path, size)
    elif re.search(r"^\s*cam0\s*=", text, re.MULTILINE) or "=" in text:
        calib = _middlebury(text, path)
    else:
        raise MaikitError("not a stereo calibration (expected a Middlebury calib.txt or a ZED .conf)", path)
    return calib if size is None else calib.at_size(size[0], size[1], path)


# --------------------------------------------------------------------------------------
# Rectification and disparity
# --------------------------------------------------------------------------------------
@dataclass
class Rectified:
    left: np.ndarray  # HxWx3 uint8
    right: np.ndarray
    focal_px: float
    cx: float
    cy: float
    doffs_px: float  # 0 after OpenCV rectification
    baseline_mm: float


def rectify(left: np.ndarray, right: np.ndarray, calib: StereoCalibration) -> Rectified:
    k = calib.k_left
    if calib.rectified:
        return Rectified(left, right, float(k[0, 0]), float(k[0, 2]), float(k[1, 2]), calib.doffs_px, calib.baseline_mm)
    size = (calib.width, calib.height)
    r1, r2, p1, p2, _q, _roi1, _roi2 = cv2.stereoRectify(
        calib.k_left, calib.dist_left, calib.k_right, calib.dist_right, size, calib.rotation,
        calib.translation_mm.reshape(3, 1).astype(np.float64),
        flags=cv2.CALIB_ZERO_DISPARITY, alpha=0)
    maps = [cv2.initUndistortRectifyMap(kk, dd, rr, pp, size, cv2.CV_32FC1)
            for kk, dd, rr, pp in ((calib.k_left, calib.dist_left, r1, p1), (calib.k_right, calib.dist_right, r2, p2))]
    left = cv2.remap(left, *maps[0], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    right = cv2.remap(right, *maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    baseline = float(abs(p2[0, 3] / p2[0, 0]))
    return Rectified(left, right, float(p1[0, 0]), float(p1[0, 2]), float(p1[1, 2]), 0.0, baseline)


def _sgbm(num_disparities: int) -> cv2.StereoSGBM:
    bs = SGBM_BLOCK
    return cv2.StereoSGBM_create(
        minDisparity=0, numDisparities=num_disparities, blockSize=bs, P1=8 * 3 * bs * bs, P2=32 * 3 * bs * bs,
        disp12MaxDiff=-1, uniquenessRatio=10, speckleWindowSize=100, speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)


def disparity_lr(left: np.ndarray, right: np.ndarray, num_disparities: int, wls: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Left-view disparity (float32 px, NaN = unknown) and the left-right consistency mask."""
    matcher = _sgbm(num_disparities)

    def match(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # SGBM gives nothing in the first num_disparities columns; a black margin on the left lets
        # it match there wherever the true match lies inside the other view
        pad = ((0, 0), (num_disparities, 0), (0, 0))
        return matcher.compute(np.pad(a, pad), np.pad(b, pad))[:, num_disparities:]

    d_left = match(left, right)
    # the right view's disparity is the left one's of the mirrored pair
    d_right = match(np.ascontiguousarray(right[:, ::-1]), np.ascontiguousarray(left[:, ::-1]))[:, ::-1]
    if wls:
        try:
            from cv2 import ximgproc  # noqa: F401
        except ImportError:
            raise MaikitError("the WLS filter needs OpenCV's contrib modules (cv2.ximgproc): install "
                              "opencv-contrib-python-headless in place of opencv-python-headless, "
                              "or run without --wls") from None
        filt = cv2.ximgproc.createDisparityWLSFilterGeneric(True)
        filt.setLambda(8000.0)
        filt.setSigmaColor(1.5)
        d_left = filt.filter(d_left, left, disparity_map_right=-np.ascontiguousarray(d_right))
    dl = d_left.astype(np.float32) / 16.0
    dr = d_right.astype(np.float32) / 16.0
    valid = dl > 0
    h, w = dl.shape
    cols = np.arange(w, dtype=np.float32)[None, :] - dl
    ci = np.clip(np.rint(cols), 0, w - 1).astype(np.intp)
    match = dr[np.arange(h)[:, None], ci]
    consistent = valid & (cols >= 0) & (match > 0) & (np.abs(match - dl) <= LR_TOLERANCE_PX)
    return np.where(consistent, dl, np.nan).astype(np.float32), consistent


def disparity_to_depth(disparity: np.ndarray, focal_px: float, baseline_mm: float, doffs_px: float,
                       min_depth_m: float, max_depth_m: float) -> np.ndarray:
    """float mm, ``f B / (d + doffs)``; unknown and out-of-range pixels 0."""
    d = np.asarray(disparity, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = focal_px * baseline_mm / (d + doffs_px)
    ok = np.isfinite(z) & (z >= min_depth_m * 1000.0) & (z <= max_depth_m * 1000.0)
    return np.where(ok, z, 0.0)


def to_task_frame(rgb: np.ndarray, depth_mm: np.ndarray, focal: tuple[float, float], centre: tuple[float, float],
                  hw: tuple[int, int] = DEPTH_HW) -> tuple[np.ndarray, np.ndarray, dict]:
    """Centre-crop to the aspect of ``hw`` and resize; returns the new intrinsics too."""
    top, left, ch, cw = cover_crop_box(rgb.shape[:2], hw)
    out_h, out_w = hw
    sx, sy = out_w / cw, out_h / ch
    rgb = rgb[top:top + ch, left:left + cw]
    depth_mm = depth_mm[top:top + ch, left:left + cw]
    interp = cv2.INTER_AREA if cw > out_w else cv2.INTER_LINEAR
    rgb = cv2.resize(rgb, (out_w, out_h), interpolation=interp)
    depth_mm = cv2.resize(depth_mm.astype(np.float32), (out_w, out_h), interpolation=cv2.INTER_NEAREST)
    # pixel centres: x_new + 0.5 = (x_old - left + 0.5) * s
    intr = {"fx": focal[0] * sx, "fy": focal[1] * sy, "cx": (centre[0] - left + 0.5) * sx - 0.5,
            "cy": (centre[1] - top + 0.5) * sy - 0.5, "crop": {"top": top, "left": left, "height": ch, "width": cw}}
    return rgb, depth_mm, intr


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------
def _photos(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise MaikitError("folder not found", folder)
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                    and not p.name.startswith(".")), key=lambda p: mio.natural_key(p.name))
    return {p.stem: p for p in files}


def read_photo(path: Path) -> np.ndarray:
    """PNG/JPEG/TIFF -> HxWx3 uint8 RGB (16-bit scaled to 8)."""
    data = mio.read_bytes(path)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise MaikitError("unreadable image (not a valid PNG/JPEG/TIFF)", path)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    img = img[:, :, :3]
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    if img.dtype != np.uint8:
        raise MaikitError(f"unsupported image type {img.dtype}", path)
    return np.ascontiguousarray(img[:, :, ::-1])


def stereo_depth(left: np.ndarray, right: np.ndarray, calib: StereoCalibration, *, max_depth_m: float = MAX_DEPTH_M,
                 min_depth_m: float = MIN_DEPTH_M, num_disparities: int | None = None, wls: bool = False
                 ) -> tuple[Rectified, np.ndarray, dict]:
    """Rectify, match and triangulate one pair: (rectified views, depth float mm, stats)."""
    rect = rectify(left, right, calib)
    if num_disparities is None:
        if calib.ndisp:
            num_disparities = calib.ndisp
        else:  # down to the minimum depth, within reason
            num_disparities = min(MAX_AUTO_DISPARITIES,
                                  int(rect.focal_px * rect.baseline_mm / (min_depth_m * 1000.0) - rect.doffs_px) + 1)
    num_disparities = max(16, int(math.ceil(num_disparities / 16)) * 16)
    disparity, consistent = disparity_lr(rect.left, rect.right, num_disparities, wls)
    depth = disparity_to_depth(disparity, rect.focal_px, rect.baseline_mm, rect.doffs_px, min_depth_m, max_depth_m)
    stats = {"num_disparities": num_disparities, "lr_consistent": round(float(consistent.mean()), 4),
             "valid": round(float((depth > 0).mean()), 4)}
    return rect, depth, stats


def from_stereo(left_dir: str | os.PathLike, right_dir: str | os.PathLike, calib_path: str | os.PathLike,
                out: str | os.PathLike, *, split: str = "train", max_depth_m: float = MAX_DEPTH_M,
                min_depth_m: float = MIN_DEPTH_M, keep_size: bool = False, wls: bool = False,
                num_disparities: int | None = None,
                progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Write every left/right pair (paired by file stem) as an RGB-depth pair; see the module."""
    t0 = time.perf_counter()
    left_dir, right_dir, out = Path(left_dir), Path(right_dir), Path(out)
    if not max_depth_m > min_depth_m >= 0:
        raise MaikitError(f"`--max-depth-m` ({max_depth_m:g}) must be above `--min-depth-m` ({min_depth_m:g}) >= 0")
    if num_disparities is not None and num_disparities < 1:
        raise MaikitError(f"`--num-disparities` must be positive, got {num_disparities}")
    if out.exists() and not out.is_dir():
        raise MaikitError("not a folder", out)
    read_calibration(calib_path)  # a broken file fails before any photo is read
    lefts, rights = _photos(left_dir), _photos(right_dir)
    names = [n for n in lefts if n in rights]
    skipped = [{"name": lefts[n].name, "reason": f"no right photo named {n}.*"} for n in lefts if n not in rights]
    skipped += [{"name": rights[n].name, "reason": f"no left photo named {n}.*"} for n in rights if n not in lefts]
    if not names:
        raise MaikitError(f"no left/right photo pairs (paired by file name) in {left_dir} and {right_dir}")
    for name in names:  # refuse before any work, never overwrite
        for sub in (DEPTH.input_dir, DEPTH.target_dir):
            if (out / split / sub / f"{name}.png").exists():
                raise MaikitError("already exists; choose an empty output folder or remove it",
                                  out / split / sub / f"{name}.png")
    frames = []
    for i, name in enumerate(names):
        left, right = read_photo(lefts[name]), read_photo(rights[name])
        if left.shape != right.shape:
            raise MaikitError(f"right photo is {right.shape[1]}x{right.shape[0]}, the left one "
                              f"{left.shape[1]}x{left.shape[0]}", rights[name])
        calib = read_calibration(calib_path, (left.shape[1], left.shape[0]))
        t1 = time.perf_counter()
        rect, depth, stats = stereo_depth(left, right, calib, max_depth_m=max_depth_m, min_depth_m=min_depth_m,
                                          num_disparities=num_disparities, wls=wls)
        rgb = rect.left
        intr = {"fx": rect.focal_px, "fy": rect.focal_px, "cx": rect.cx, "cy": rect.cy}
        if not keep_size:
            rgb, depth, intr = to_task_frame(rgb, depth, (rect.focal_px, rect.focal_px), (rect.cx, rect.cy))
        depth_u16 = depth_to_uint16_mm(depth)
        file = f"{name}.png"
        with staged(out) as stage:
            mio.write_png(stage.path(out / split / DEPTH.input_dir / file), rgb)
            mio.write_png(stage.path(out / split / DEPTH.target_dir / file), depth_u16)
            stage.commit()
        valid = depth_u16 > 0
        metres = depth_u16[valid] / 1000.0
        frames.append({
            "name": file, "left": str(lefts[name]), "right": str(rights[name]), "height": int(rgb.shape[0]),
            "width": int(rgb.shape[1]), "intrinsics": intr, "baseline_mm": rect.baseline_mm, "doffs_px": rect.doffs_px,
            **stats, "valid": round(float(valid.mean()), 4),
            "depth_median_m": round(float(np.median(metres)), 3) if metres.size else None,
            "seconds": round(time.perf_counter() - t1, 3), "megapixels": round(left.shape[0] * left.shape[1] / 1e6, 3),
        })
        if progress is not None:
            progress(i + 1, len(names), file)
    summary = {
        "root": str(out), "split": split, split: len(frames), "pairs": len(frames), "skipped": skipped,
        "calibration": read_calibration(calib_path).to_dict(), "keep_size": keep_size,
        "max_depth_m": max_depth_m, "min_depth_m": min_depth_m, "wls": wls, "frames": frames,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    report = out / f"stereo_{split}.json"
    mio.write_json(report, {**summary, "generator": "maikit.data.stereo"})
    summary["report"] = str(report)
    return summary
