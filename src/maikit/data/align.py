"""Phone RAW <-> camera RGB alignment, as the ISP challenge's organisers built their data.

The MAI 2021 ISP set pairs RAW photos of a phone sensor with photos of a DSLR shot at the
same time; the organisers aligned each pair globally, refined it densely and cut patches
(ISP report §2). ``mai data align`` does the same for anyone's own captures, per pair:

1. **RAW view**: the RGGB mosaic (DNG through :mod:`maikit.data.rawphoto`, or a layout RAW
   PNG) demosaiced at half resolution by averaging each 2x2 cell's colours, normalised by
   its 99.5th percentile, gamma 1/2.2, grey, and resized to the mosaic's grid (a half-res
   pixel's centre is the centre of its 2x2 cell, which ``cv2.resize`` respects).
2. **Global alignment**: SIFT features on both grey views (each at most ``FEATURE_SIDE``
   px, so the cameras' scale difference is absorbed by the features' scale invariance),
   Lowe's ratio test, a homography target -> RAW by RANSAC (OpenCV's MAGSAC++). Too few
   matches, too few inliers or a target that covers too little of the RAW frame skip the
   pair with that reason. A target much larger than the RAW is first reduced (area filter)
   to the RAW's scale so the final resampling does not alias.
3. **Dense refinement**: the target's grey view warped onto the RAW grid and matched to the
   RAW view's histogram (the two cameras render tones differently), then DIS optical flow
   (OpenCV) in both directions; a pixel is confident when the forward and backward flows
   agree within ``FB_TOLERANCE_PX`` (forward-backward consistency).
4. **Warp**: every RAW pixel takes the target colour at ``H^-1(x + flow(x))``, one bilinear
   resampling of the (reduced) target.
5. **Patches**: a grid of ``patch`` x ``patch`` windows on even coordinates (the Bayer
   phase stays RGGB); a patch is kept when the target covers all of it, at least
   ``min_confidence`` of its pixels are confident and it has texture to align on. Kept
   patches are written in the ISP layout (RAW uint16 and RGB uint8, same name
   ``<stem>-<k>.png``).

Each pair's files and its JSON report (matches, inliers, residual, flow statistics, every
patch with its fate) are staged and renamed into place together; a CSV with one row per pair
is written at the end. Skipped pairs get a report with their reason and no patches.
"""

from __future__ import annotations

import csv
import glob
import io as _io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from maikit import io as mio
from maikit.data.staging import staged
from maikit.errors import MaikitError
from maikit.taskspec import ISP, MAI21, RawConvention

TARGET_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
FEATURE_SIDE = 1600  # px: longest side the features are detected at
SIFT_FEATURES = 8000
RATIO_TEST = 0.75
MIN_MATCHES = 20
MIN_INLIERS = 15
MIN_INLIER_RATIO = 0.25
RANSAC_THRESHOLD_PX = 3.0  # at feature scale
MIN_COVERAGE = 0.05  # share of the RAW frame the target must cover
FLOW_SIDE = 2048  # px: longest side the dense flow is computed at
FB_TOLERANCE_PX = 1.0  # RAW px
FLAT_STD = 0.02  # grey-level std below which a patch has nothing to align on
DEFAULT_MIN_CONFIDENCE = 0.9


# --------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------
def raw_grey_view(mosaic: np.ndarray) -> np.ndarray:
    """RGGB mosaic HxW -> float32 HxW grey view in [0, 1] (quick demosaic, gamma 1/2.2)."""
    m = mosaic.astype(np.float32)
    r, b = m[0::2, 0::2], m[1::2, 1::2]
    g = (m[0::2, 1::2] + m[1::2, 0::2]) * 0.5
    grey = 0.25 * r + 0.5 * g + 0.25 * b
    scale = float(np.percentile(grey, 99.5))
    grey = np.clip(grey / max(scale, 1e-6), 0.0, 1.0) ** (1 / 2.2)
    return cv2.resize(grey, (mosaic.shape[1], mosaic.shape[0]), interpolation=cv2.INTER_LINEAR)


def rgb_grey_view(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def _match_histogram(src: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Map ``src`` values so that their distribution on ``mask`` matches ``ref``'s."""
    q = np.linspace(0, 100, 257)
    s, r = np.percentile(src[mask], q), np.percentile(ref[mask], q)
    s = np.maximum.accumulate(s + np.arange(len(s)) * 1e-7)  # strictly increasing for interp
    return np.interp(src, s, r).astype(np.float32)


# --------------------------------------------------------------------------------------
# Global alignment
# --------------------------------------------------------------------------------------
class Skip(Exception):
    """A pair that cannot be aligned; the message is the reason."""


def _resized(img: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    s = min(1.0, side / max(img.shape[:2]))
    if s == 1.0:
        return img, 1.0
    size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA), s


def global_homography(raw_view: np.ndarray, target_view: np.ndarray) -> tuple[np.ndarray, dict]:
    """Homography mapping target pixel coordinates to RAW pixel coordinates, and its stats."""
    raw_small, sr = _resized(_u8(raw_view), FEATURE_SIDE)
    tgt_small, st = _resized(_u8(target_view), FEATURE_SIDE)
    sift = cv2.SIFT_create(nfeatures=SIFT_FEATURES)
    kr, dr = sift.detectAndCompute(raw_small, None)
    kt, dt = sift.detectAndCompute(tgt_small, None)
    stats = {"features_raw": len(kr), "features_target": len(kt), "matches": 0}
    if dr is None or dt is None or len(kr) < 2 or len(kt) < 2:
        raise Skip(f"too few features ({len(kr)} in the RAW, {len(kt)} in the target)")
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(dt, dr, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < RATIO_TEST * m[1].distance]
    stats["matches"] = len(good)
    if len(good) < MIN_MATCHES:
        raise Skip(f"too few feature matches ({len(good)} < {MIN_MATCHES}): unrelated photos?")

    # keypoint coordinates back on the full grids (pixel centres)
    def full(points: np.ndarray, s: float) -> np.ndarray:
        return (points + 0.5) / s - 0.5

    pt = full(np.float32([kt[m.queryIdx].pt for m in good]), st)
    pr = full(np.float32([kr[m.trainIdx].pt for m in good]), sr)
    h, inl = cv2.findHomography(pt, pr, cv2.USAC_MAGSAC, RANSAC_THRESHOLD_PX / sr, maxIters=10000, confidence=0.999)
    if h is None:
        raise Skip(f"no homography fits the {len(good)} matches: unrelated photos?")
    inl = inl.ravel().astype(bool)
    n_in = int(inl.sum())
    stats.update(inliers=n_in, inlier_ratio=round(n_in / len(good), 4))
    if n_in < MIN_INLIERS or n_in / len(good) < MIN_INLIER_RATIO:
        raise Skip(f"only {n_in} of {len(good)} matches ({n_in / len(good):.0%}) fit one homography: unrelated photos?")
    proj = cv2.perspectiveTransform(pt[inl][:, None], h)[:, 0]
    stats["residual_px"] = round(float(np.sqrt(np.mean(np.sum((proj - pr[inl]) ** 2, axis=1)))), 4)
    return h, stats


def _scale_of(h: np.ndarray, at: tuple[float, float]) -> float:
    """RAW px per target px of the homography near target point ``at`` (area scale)."""
    x, y = at
    pts = np.float32([[[x, y]], [[x + 1, y]], [[x, y + 1]]])
    p = cv2.perspectiveTransform(pts, h)[:, 0]
    (ax, ay), (bx, by) = p[1] - p[0], p[2] - p[0]
    return float(np.sqrt(abs(ax * by - ay * bx)))


# --------------------------------------------------------------------------------------
# One pair
# --------------------------------------------------------------------------------------
@dataclass
class PatchResult:
    top: int
    left: int
    kept: bool
    reason: str
    confidence: float
    name: str = ""


@dataclass
class PairAlignment:
    """Everything one pair's alignment produced (``map_xy``: for every RAW pixel, the
    matching point in the ORIGINAL target's pixel coordinates)."""

    stats: dict
    aligned: np.ndarray  # HxWx3 uint8 target on the RAW grid
    map_xy: np.ndarray  # HxWx2 float32
    confident: np.ndarray  # HxW bool
    covered: np.ndarray  # HxW bool
    patches: list[PatchResult] = field(default_factory=list)


def align_pair(mosaic: np.ndarray, target: np.ndarray, *, patch: int = 256,
               min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> PairAlignment:
    """Align ``target`` (HxWx3 uint8) onto ``mosaic`` (RGGB HxW); raises :class:`Skip`."""
    h_raw, w_raw = mosaic.shape
    raw_view = raw_grey_view(mosaic)
    hom, stats = global_homography(raw_view, rgb_grey_view(target))

    # a much larger target is reduced to about the RAW's scale first (area filter: no aliasing)
    centre = ((target.shape[1] - 1) / 2, (target.shape[0] - 1) / 2)
    s = _scale_of(hom, centre)
    stats["target_scale"] = round(s, 4)
    reduce = s < 0.9
    if reduce:
        small = cv2.resize(target, (max(1, round(target.shape[1] * s)), max(1, round(target.shape[0] * s))),
                           interpolation=cv2.INTER_AREA)
        sx, sy = small.shape[1] / target.shape[1], small.shape[0] / target.shape[0]
        # small pixel centre x_s  <->  original (x_s + 0.5) / sx - 0.5
        to_orig = np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]])
        work, hom_work = small, hom @ to_orig
    else:
        work, hom_work, to_orig = target, hom, np.eye(3)

    grid = (w_raw, h_raw)
    warped_grey = cv2.warpPerspective(rgb_grey_view(work), hom_work, grid, flags=cv2.INTER_LINEAR)
    ones = np.ones(work.shape[:2], np.uint8)
    covered0 = cv2.warpPerspective(ones, hom_work, grid, flags=cv2.INTER_NEAREST) > 0
    coverage = float(covered0.mean())
    stats["coverage"] = round(coverage, 4)
    if coverage < MIN_COVERAGE:
        raise Skip(f"the target covers only {coverage:.0%} of the RAW frame")
    warped_grey = _match_histogram(warped_grey, raw_view, covered0)

    # dense flow, at most FLOW_SIDE px on the long side
    fs = min(1.0, FLOW_SIDE / max(h_raw, w_raw))
    a, b = _u8(raw_view), _u8(warped_grey)
    if fs < 1.0:
        size = (round(w_raw * fs), round(h_raw * fs))
        a, b = cv2.resize(a, size, interpolation=cv2.INTER_AREA), cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    fwd = dis.calc(a, b, None)
    bwd = dis.calc(b, a, None)
    hh, ww = a.shape
    gx, gy = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(hh, dtype=np.float32))
    back = cv2.remap(bwd, gx + fwd[..., 0], gy + fwd[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fb = np.linalg.norm(fwd + back, axis=2)
    if fs < 1.0:
        fwd = cv2.resize(fwd, grid, interpolation=cv2.INTER_LINEAR) / fs
        fb = cv2.resize(fb, grid, interpolation=cv2.INTER_LINEAR) / fs
    confident = fb <= FB_TOLERANCE_PX

    # one resampling: RAW pixel x -> x + flow(x) on the warped grid -> H^-1 into the work target
    gx, gy = np.meshgrid(np.arange(w_raw, dtype=np.float32), np.arange(h_raw, dtype=np.float32))
    p = np.stack([gx + fwd[..., 0], gy + fwd[..., 1]], axis=-1)
    q_work = cv2.perspectiveTransform(p.reshape(-1, 1, 2).astype(np.float64), np.linalg.inv(hom_work))
    q_work = q_work.reshape(h_raw, w_raw, 2).astype(np.float32)
    aligned = cv2.remap(work, q_work[..., 0], q_work[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    wh, wwid = work.shape[:2]
    covered = ((q_work[..., 0] >= 0) & (q_work[..., 0] <= wwid - 1) & (q_work[..., 1] >= 0)
               & (q_work[..., 1] <= wh - 1))
    q = cv2.perspectiveTransform(q_work.reshape(-1, 1, 2).astype(np.float64), to_orig)
    map_xy = q.reshape(h_raw, w_raw, 2).astype(np.float32)

    ok = covered & covered0
    flow_mag = np.linalg.norm(fwd, axis=2)[ok]
    stats.update(
        flow_median_px=round(float(np.median(flow_mag)), 4) if flow_mag.size else None,
        flow_max_px=round(float(flow_mag.max()), 4) if flow_mag.size else None,
        fb_median_px=round(float(np.median(fb[ok])), 4) if ok.any() else None,
        confident=round(float(confident[ok].mean()), 4) if ok.any() else 0.0,
    )
    result = PairAlignment(stats, aligned, map_xy, confident, ok)
    for top in range(0, h_raw - patch + 1, patch):
        for left in range(0, w_raw - patch + 1, patch):
            win = (slice(top, top + patch), slice(left, left + patch))
            conf = float(confident[win].mean())
            if not ok[win].all():
                reason = "outside the target (not fully covered)"
            elif conf < min_confidence:
                reason = f"low confidence ({conf:.2f} < {min_confidence:g} of pixels pass the flow check)"
            elif float(raw_view[win].std()) < FLAT_STD:
                reason = "flat (no texture to align on)"
            else:
                reason = ""
            result.patches.append(PatchResult(top, left, not reason, reason, round(conf, 4)))
    return result


# --------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------
def _target_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise MaikitError("folder not found", folder)
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TARGET_SUFFIXES
                    and not p.name.startswith(".")), key=lambda p: mio.natural_key(p.name))
    return {p.stem: p for p in files}


def read_target(path: Path) -> np.ndarray:
    from maikit.data.stereo import read_photo

    return read_photo(path)


CSV_FIELDS = ("name", "status", "reason", "matches", "inliers", "inlier_ratio", "residual_px", "coverage",
              "confident", "fb_median_px", "kept", "rejected", "seconds", "megapixels")


def align_dataset(raw_dir: str | os.PathLike, rgb_dir: str | os.PathLike, out: str | os.PathLike, *,
                  split: str = "train", patch: int = 256, raw_convention: RawConvention = MAI21,
                  min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                  progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Align every RAW/target pair (paired by file stem) and write patches; see the module."""
    from maikit.data.rawphoto import list_raw_files, read_layout_raw

    t0 = time.perf_counter()
    raw_dir, rgb_dir, out = Path(raw_dir), Path(rgb_dir), Path(out)
    if patch < 2 or patch % 2:
        raise MaikitError(f"`--patch` must be a positive even size, got {patch}")
    if not 0.0 <= min_confidence <= 1.0:
        raise MaikitError(f"`--min-confidence` must be in [0, 1], got {min_confidence}")
    if out.exists() and not out.is_dir():
        raise MaikitError("not a folder", out)
    raws = {p.stem: p for p in list_raw_files(raw_dir)}
    targets = _target_files(rgb_dir)
    names = [n for n in raws if n in targets]
    results: list[dict] = [{"name": raws[n].name, "status": "skipped", "reason": f"no target photo named {n}.*"}
                           for n in raws if n not in targets]
    if not names:
        raise MaikitError(f"no RAW/target pairs (paired by file name) in {raw_dir} and {rgb_dir}")
    reports = out / "align" / split
    for stem in names:  # refuse before any work, never overwrite
        existing = [reports / f"{stem}.json"] + [f for sub in (ISP.input_dir, ISP.target_dir)
                                                  for f in (out / split / sub).glob(f"{glob.escape(stem)}-*.png")]
        existing = [f for f in existing if f.exists()]
        if existing:
            raise MaikitError("already exists (from an earlier run?); choose an empty output folder or remove it",
                              existing[0])
    written = 0
    for i, stem in enumerate(names):
        t1 = time.perf_counter()
        mosaic = read_layout_raw(raws[stem], raw_convention)
        target = read_target(targets[stem])
        entry: dict = {"name": raws[stem].name, "raw": str(raws[stem]), "target": str(targets[stem]),
                       "raw_hw": list(mosaic.shape), "target_hw": list(target.shape[:2]),
                       "megapixels": round(mosaic.size / 1e6, 3)}
        if min(mosaic.shape) < patch:
            res, entry["status"], entry["reason"] = None, "skipped", f"RAW frame smaller than one {patch}px patch"
        else:
            try:
                res = align_pair(mosaic, target, patch=patch, min_confidence=min_confidence)
                entry["status"], entry["reason"] = "aligned", ""
            except Skip as e:
                res, entry["status"], entry["reason"] = None, "skipped", str(e)
        with staged(out) as stage:
            if res is not None:
                entry["global"] = res.stats
                k = 0
                for pr in res.patches:
                    if pr.kept:
                        pr.name = f"{stem}-{k}.png"
                        win = (slice(pr.top, pr.top + patch), slice(pr.left, pr.left + patch))
                        mio.write_png(stage.path(out / split / ISP.input_dir / pr.name), np.ascontiguousarray(mosaic[win]))
                        mio.write_png(stage.path(out / split / ISP.target_dir / pr.name),
                                      np.ascontiguousarray(res.aligned[win]))
                        k += 1
                entry["kept"] = k
                entry["rejected"] = len(res.patches) - k
                entry["rejections"] = _count_reasons(res.patches)
                entry["patches"] = [vars(pr) for pr in res.patches]
                written += k
            entry["seconds"] = round(time.perf_counter() - t1, 3)
            mio.write_json(stage.path(reports / f"{stem}.json"), {**entry, "patch": patch,
                                                                   "raw_convention": raw_convention.name})
            stage.commit()
        results.append(entry)
        if progress is not None:
            progress(i + 1, len(names), stem)

    csv_path = reports.with_suffix(".csv")
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for e in results:
        writer.writerow({**e.get("global", {}), **e})
    mio.write_text(csv_path, buf.getvalue())
    aligned = [e for e in results if e["status"] == "aligned"]
    return {
        "root": str(out), "split": split, "patch": patch, "raw_convention": raw_convention.name,
        "min_confidence": min_confidence, "aligned": len(aligned), "skipped": len(results) - len(aligned),
        "patches": written, "reports": str(reports), "csv": str(csv_path),
        "pairs": [{k: v for k, v in e.items() if k != "patches"} for e in results],
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _count_reasons(patches: list[PatchResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in patches:
        if not p.kept:
            key = p.reason.split(" (")[0]
            counts[key] = counts.get(key, 0) + 1
    return counts
