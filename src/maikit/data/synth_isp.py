"""Synthetic ISP data: RAW-RGB pairs made from natural photos by inverting a camera pipeline.

The unprocessing follows Brooks et al., "Unprocessing Images for Learned Raw Denoising"
(CVPR 2019), as fixed in docs/references.md#unprocessing: inverse smoothstep tone curve, inverse gamma (2.2),
inverse colour correction (a random convex mix of four cameras' XYZ->camera matrices times
sRGB->XYZ, rows normalised to 1), inverse white balance with highlight preservation,
clipping, RGGB mosaic, shot + read noise, and 10-bit quantisation (x1020, round, clip to
0..1023) so the files match the MAI 2021 format (docs/references.md#isp-data). The target of each RAW is the
original sRGB crop, so a model learns demosaicking, denoising, white balance, colour and
tone together, as in the challenge.

Photos are the natural RGB images bundled with scikit-image (or a user folder). The
validation split is cut from the photo list, not from the patches, so it never shows a
scene seen in training; ``synth.json`` at the root records the photos of each split, the
seed and every sample's camera parameters.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from maikit import io as mio
from maikit.errors import MaikitError
from maikit.taskspec import ISP

# XYZ -> camera matrices of four cameras and the sRGB (D65) -> XYZ matrix, as published with
# the unprocessing paper (timothybrooks.com/tech/unprocessing, random_ccm()).
XYZ2CAMS = np.array(
    [
        [[1.0234, -0.2969, -0.2266], [-0.5625, 1.6328, -0.0469], [-0.0703, 0.2188, 0.6406]],
        [[0.4913, -0.0541, -0.0202], [-0.6130, 1.3513, 0.2906], [-0.1564, 0.2151, 0.7183]],
        [[0.8380, -0.2630, -0.0639], [-0.2887, 1.0725, 0.2496], [-0.0627, 0.1427, 0.5438]],
        [[0.6596, -0.2079, -0.0562], [-0.4782, 1.3016, 0.1933], [-0.0970, 0.1581, 0.5181]],
    ]
)
RGB2XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
RAW_SCALE = 4 * 255  # 10-bit files: linear 1.0 -> 1020 (the mai21 divisor)
RAW_MAX = 1023
HIGHLIGHT_INFLECTION = 0.9

# (photo, scene): photos of one scene always land in the same split.
SKIMAGE_PHOTOS = (
    ("astronaut", "astronaut"),
    ("coffee", "coffee"),
    ("chelsea", "chelsea"),
    ("rocket", "rocket"),
    ("motorcycle_left", "motorcycle"),
    ("motorcycle_right", "motorcycle"),
    ("immunohistochemistry", "immunohistochemistry"),
)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Photo:
    name: str
    scene: str
    image: np.ndarray  # uint8 HxWx3 sRGB


@dataclass(frozen=True)
class CameraParams:
    """Random camera of one sample (docs/references.md#unprocessing)."""

    ccm_weights: tuple[float, ...]  # convex weights of XYZ2CAMS
    rgb_gain: float  # 1 / N(0.8, 0.1)
    red_gain: float  # U(1.9, 2.4)
    blue_gain: float  # U(1.5, 1.9)
    shot_noise: float  # log-uniform [1e-4, 0.012]
    read_noise: float  # log(read) = 2.18 log(shot) + 1.20 + N(0, 0.26)

    @property
    def rgb2cam(self) -> np.ndarray:
        xyz2cam = np.tensordot(np.asarray(self.ccm_weights), XYZ2CAMS, axes=1)
        rgb2cam = xyz2cam @ RGB2XYZ
        return rgb2cam / rgb2cam.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------
# The unprocessing pipeline (pure, vectorised)
# --------------------------------------------------------------------------------------
def random_camera(rng: np.random.Generator) -> CameraParams:
    weights = rng.uniform(1e-8, 1.0, size=len(XYZ2CAMS))
    weights /= weights.sum()
    # Guard the reciprocal: N(0.8, 0.1) below 0.4 is a 4-sigma event.
    rgb_gain = 1.0 / float(np.clip(rng.normal(0.8, 0.1), 0.4, 1.2))
    log_shot = rng.uniform(np.log(1e-4), np.log(0.012))
    log_read = 2.18 * log_shot + 1.20 + rng.normal(0.0, 0.26)
    return CameraParams(
        ccm_weights=tuple(float(w) for w in weights),
        rgb_gain=rgb_gain,
        red_gain=float(rng.uniform(1.9, 2.4)),
        blue_gain=float(rng.uniform(1.5, 1.9)),
        shot_noise=float(np.exp(log_shot)),
        read_noise=float(np.exp(log_read)),
    )


def inverse_smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * x) / 3.0)


def inverse_gamma(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 1e-8) ** 2.2


def inverse_white_balance(x: np.ndarray, cam: CameraParams) -> np.ndarray:
    """Divide by the WB gains, blending towards gain 1 near white so highlights stay saturated."""
    gains = np.array([1.0 / cam.red_gain, 1.0, 1.0 / cam.blue_gain], dtype=x.dtype) / cam.rgb_gain
    gray = x.mean(axis=-1, keepdims=True)
    mask = (np.maximum(gray - HIGHLIGHT_INFLECTION, 0.0) / (1.0 - HIGHLIGHT_INFLECTION)) ** 2
    safe_gains = np.maximum(mask + (1.0 - mask) * gains, gains)
    return x * safe_gains


def mosaic_rggb(x: np.ndarray) -> np.ndarray:
    """HxWx3 -> HxW Bayer RGGB (R at (0, 0), B at (1, 1))."""
    raw = x[:, :, 1].copy()
    raw[0::2, 0::2] = x[0::2, 0::2, 0]
    raw[1::2, 1::2] = x[1::2, 1::2, 2]
    return raw


def unprocess(srgb: np.ndarray, cam: CameraParams) -> np.ndarray:
    """sRGB uint8 HxWx3 -> linear camera RGB float32 in [0, 1] (before mosaic and noise)."""
    x = srgb.astype(np.float32) / np.float32(255.0)
    x = inverse_gamma(inverse_smoothstep(x))
    x = x @ cam.rgb2cam.T.astype(np.float32)
    x = inverse_white_balance(x, cam)
    return np.clip(x, 0.0, 1.0)


def add_noise(raw: np.ndarray, cam: CameraParams, rng: np.random.Generator) -> np.ndarray:
    variance = raw * cam.shot_noise + cam.read_noise
    return raw + rng.standard_normal(raw.shape, dtype=np.float32) * np.sqrt(variance).astype(np.float32)


def quantise_10bit(raw: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(raw * RAW_SCALE), 0, RAW_MAX).astype(np.uint16)


def synth_raw(srgb: np.ndarray, cam: CameraParams, rng: np.random.Generator) -> np.ndarray:
    """The 10-bit RGGB RAW (uint16 HxW) a camera ``cam`` would have recorded for ``srgb``."""
    return quantise_10bit(add_noise(mosaic_rggb(unprocess(srgb, cam)), cam, rng))


# --------------------------------------------------------------------------------------
# Photos
# --------------------------------------------------------------------------------------
def _ensure_min_side(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    if min(h, w) >= side:
        return img
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)


def skimage_photos() -> list[Photo]:
    """The natural RGB photos bundled with scikit-image (no download needed)."""
    import skimage.data

    left, right, _ = skimage.data.stereo_motorcycle()
    special = {"motorcycle_left": left, "motorcycle_right": right}
    photos = []
    for name, scene in SKIMAGE_PHOTOS:
        img = special[name] if name in special else getattr(skimage.data, name)()
        photos.append(Photo(name, scene, np.ascontiguousarray(img[:, :, :3], dtype=np.uint8)))
    return photos


def folder_photos(folder: str | Path) -> list[Photo]:
    """Every JPEG/PNG directly in ``folder``; each file counts as its own scene."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MaikitError("photo folder not found", folder)
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith(".")),
        key=lambda p: mio.natural_key(p.name),
    )
    if not files:
        raise MaikitError("no JPEG or PNG photos", folder)
    photos = []
    for f in files:
        img = cv2.imdecode(np.fromfile(f, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise MaikitError("unreadable photo (not a valid JPEG/PNG)", f)
        photos.append(Photo(f.name, f.name, np.ascontiguousarray(img[:, :, ::-1])))
    return photos


def split_photos(photos: list[Photo], n_val: int, rng: np.random.Generator) -> tuple[list[Photo], list[Photo]]:
    """Split by scene: ``n_val`` scenes for validation, the rest for training."""
    scenes = list(dict.fromkeys(p.scene for p in photos))
    order = rng.permutation(len(scenes))
    val_scenes = {scenes[i] for i in order[:n_val]}
    return [p for p in photos if p.scene not in val_scenes], [p for p in photos if p.scene in val_scenes]


# --------------------------------------------------------------------------------------
# Dataset writer
# --------------------------------------------------------------------------------------
def _check_empty_output(out: Path) -> None:
    for split in ("train", "val", "test"):
        for sub in (ISP.input_dir, ISP.target_dir):
            folder = out / split / sub
            if folder.is_dir() and any(folder.glob("*.png")):
                raise MaikitError(
                    f"already holds a dataset ({split}/{sub}/ has PNG files); choose an empty folder", out
                )


def _write_pair(out: Path, split: str, name: str, raw: np.ndarray, rgb: np.ndarray) -> None:
    mio.write_png(out / split / ISP.input_dir / name, raw)
    mio.write_png(out / split / ISP.target_dir / name, rgb)


def synth_isp(
    out: str | Path,
    count: int,
    seed: int = 0,
    val_fraction: float = 0.1,
    photos: str | Path | None = None,
    full_res: int = 0,
    patch: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write ``count`` RAW/RGB patch pairs (``patch`` x ``patch``) to ``out/{train,val}``.

    ``val_fraction`` of the patches go to ``val/``, cut from held-out photos (at least one
    scene; at least one stays for training). ``full_res`` extra whole-photo frames (cropped
    to a multiple of 32) go to ``test/``, made from the validation photos when there are any.
    Returns a summary: root, train, val, test counts, photos per split, seconds.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if count < 1:
        raise MaikitError(f"`count` must be at least 1, got {count}")
    if not 0.0 <= val_fraction < 1.0:
        raise MaikitError(f"`val_fraction` must be in [0, 1), got {val_fraction}")
    if patch < 2 or patch % 2:
        raise MaikitError(f"`patch` must be a positive even size, got {patch}")
    if full_res < 0:
        raise MaikitError(f"`full_res` must be >= 0, got {full_res}")
    if out.exists() and not out.is_dir():
        raise MaikitError("not a folder", out)
    _check_empty_output(out)

    all_photos = folder_photos(photos) if photos is not None else skimage_photos()
    all_photos = [Photo(p.name, p.scene, _ensure_min_side(p.image, patch)) for p in all_photos]
    n_scenes = len({p.scene for p in all_photos})
    n_val = min(count - 1, max(1, round(count * val_fraction))) if val_fraction > 0 and count > 1 else 0
    n_val_scenes = min(n_scenes - 1, max(1, round(n_scenes * val_fraction))) if n_val else 0
    if n_val and n_val_scenes < 1:
        raise MaikitError(
            f"a held-out validation split needs photos of at least 2 scenes, got {n_scenes}; "
            "add photos or set the validation fraction to 0"
        )
    split_rng = np.random.default_rng([seed, 0])
    train_photos, val_photos = split_photos(all_photos, n_val_scenes, split_rng)
    plan = [("train", count - n_val, train_photos), ("val", n_val, val_photos)]
    total = count + full_res
    done = 0
    samples: dict[str, list[dict]] = {}

    for split_id, (split, n, split_photo_list) in enumerate(plan, start=1):
        samples[split] = []
        for i in range(n):
            rng = np.random.default_rng([seed, split_id, i])
            photo = split_photo_list[i % len(split_photo_list)]
            h, w = photo.image.shape[:2]
            top, left = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
            rgb = np.ascontiguousarray(photo.image[top : top + patch, left : left + patch])
            cam = random_camera(rng)
            name = f"{i}.png"
            _write_pair(out, split, name, synth_raw(rgb, cam, rng), rgb)
            samples[split].append({"name": name, "photo": photo.name, "top": top, "left": left, **asdict(cam)})
            done += 1
            if progress is not None:
                progress(done, total)

    samples["test"] = []
    test_photos = val_photos or train_photos
    for i in range(full_res):
        rng = np.random.default_rng([seed, 3, i])
        photo = test_photos[i % len(test_photos)]
        h, w = photo.image.shape[:2]
        fh, fw = h // 32 * 32, w // 32 * 32
        top, left = (h - fh) // 2, (w - fw) // 2
        rgb = np.ascontiguousarray(photo.image[top : top + fh, left : left + fw])
        cam = random_camera(rng)
        name = f"{i}.png"
        _write_pair(out, "test", name, synth_raw(rgb, cam, rng), rgb)
        samples["test"].append({"name": name, "photo": photo.name, "top": top, "left": left, "height": fh, "width": fw, **asdict(cam)})
        done += 1
        if progress is not None:
            progress(done, total)

    photo_splits = {"train": [p.name for p in train_photos], "val": [p.name for p in val_photos]}
    if full_res:
        photo_splits["test"] = sorted({s["photo"] for s in samples["test"]}, key=[p.name for p in test_photos].index)
    summary = {
        "root": str(out),
        "task": "isp",
        "train": count - n_val,
        "val": n_val,
        "test": full_res,
        "photos": photo_splits,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    mio.write_json(
        out / "synth.json",
        {
            **{k: v for k, v in summary.items() if k != "seconds"},
            "generator": "maikit.data.synth_isp",
            "seed": seed,
            "count": count,
            "val_fraction": val_fraction,
            "patch": patch,
            "full_res": full_res,
            "photo_source": str(photos) if photos is not None else "skimage.data",
            "pipeline": "inverse smoothstep, inverse gamma 2.2, inverse CCM (convex mix of 4 cameras, rows "
            "normalised), inverse WB with highlight preservation, clip, RGGB mosaic, shot+read noise, "
            f"x{RAW_SCALE} round clip 0..{RAW_MAX} (uint16 PNG)",
            "samples": samples,
        },
    )
    return summary
