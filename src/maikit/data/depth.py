"""Depth data: the official file format, the training dataset and its augmentation.

Format (docs/references.md#depth-data, depth report §2.1): ``ROOT/{train,val|validation}/{rgb,depth}/<name>.png``,
RGB uint8 480x640, depth uint16 PNG in millimetres with 0 = unknown (the ZED's minimum
distance is 0.4 m). PNGs are read exactly as stored, never rescaled.

:class:`DepthDataset` yields ``(x, y)`` float32 tensors: x = RGB 3xHxW in 0-255 (models
normalise inside their graphs), y = depth 1xHxW in metres with 0 = unknown. Its seeded
augmentation follows what the teams of the depth report describe: horizontal flips and small
rotations with colour and brightness changes (JMU-CVLab), and AIIA HIT's "R² crop"
(random location and random size of the crop, resized back to the frame). Geometry is
applied to image and depth through one affine map (nearest for depth, so unknown zeros
never blend into valid depth); photometric jitter touches the image only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from maikit.data.layout import find_pairs
from maikit.errors import MaikitError
from maikit.io import read_png, write_png
from maikit.taskspec import DEPTH, DEPTH_MODEL_UNIT_TO_MM

DEPTH_HW: tuple[int, int] = DEPTH.train_target_hw  # (480, 640)
MIN_DEPTH_M = DEPTH.sensor_range.min_m  # 0.4 m: nearer than this the ZED reports nothing
MAX_DEPTH_M = DEPTH.sensor_range.max_m  # 50 m: the ZED's stated far limit
UINT16_MAX = 65535


# --------------------------------------------------------------------------------------
# File format
# --------------------------------------------------------------------------------------
def depth_to_uint16_mm(depth_mm: np.ndarray) -> np.ndarray:
    """Float (or integer) millimetres -> uint16 millimetres as stored in the files.

    Rounded to the nearest millimetre and clipped to 0..65535; NaN and +-inf become 0
    (unknown), as do negative values.
    """
    d = np.asarray(depth_mm)
    if d.dtype == np.uint16:
        return d.copy()
    d = d.astype(np.float64)
    d = np.where(np.isfinite(d), d, 0.0)
    return np.clip(np.rint(d), 0, UINT16_MAX).astype(np.uint16)


def depth_mm_to_m(depth_mm: np.ndarray | Sequence) -> np.ndarray:
    """Millimetres (as stored) -> float32 metres; 0 stays 0 = unknown."""
    return np.asarray(depth_mm, np.float32) / np.float32(DEPTH_MODEL_UNIT_TO_MM)


def read_depth_mm(path: str | os.PathLike) -> np.ndarray:
    """Read a depth PNG as stored: HxW uint16 millimetres, 0 = unknown."""
    d = read_png(path)
    if d.dtype != np.uint16 or d.ndim != 2:
        kind = f"{d.dtype} with {1 if d.ndim == 2 else d.shape[2]} channel(s)"
        raise MaikitError(f"depth must be a single-channel uint16 PNG in millimetres, got {kind}", path)
    return d


def write_depth_mm(path: str | os.PathLike, depth_mm: np.ndarray) -> Path:
    """Write depth in millimetres as a uint16 PNG (atomic); see :func:`depth_to_uint16_mm`."""
    d = np.asarray(depth_mm)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2:
        raise ValueError(f"`depth_mm` must be HxW, got shape {d.shape}")
    return write_png(path, depth_to_uint16_mm(d))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an input photo: HxWx3 uint8, RGB order."""
    img = read_png(path)
    if img.dtype != np.uint8 or img.ndim != 3:
        kind = f"{img.dtype} with {1 if img.ndim == 2 else img.shape[2]} channel(s)"
        raise MaikitError(f"RGB input must be a 3-channel uint8 PNG, got {kind}", path)
    return img


def colourise_depth(
    depth_mm: np.ndarray,
    vmin_mm: float | None = None,
    vmax_mm: float | None = None,
    cmap: str = "turbo_r",
) -> np.ndarray:
    """Preview of a depth map: HxWx3 uint8 RGB, near = warm, invalid (<= 0, NaN) = black.

    The range defaults to the 2nd..98th percentile of the valid pixels, so a few far
    outliers do not flatten the picture.
    """
    import matplotlib

    d = np.asarray(depth_mm, dtype=np.float64)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    valid = np.isfinite(d) & (d > 0)
    out = np.zeros(d.shape + (3,), np.uint8)
    if not valid.any():
        return out
    p2, p98 = np.percentile(d[valid], [2, 98])
    lo = float(p2 if vmin_mm is None else vmin_mm)
    hi = float(p98 if vmax_mm is None else vmax_mm)
    hi = max(hi, lo + 1e-6)
    lut = (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
    idx = np.clip((d[valid] - lo) / (hi - lo) * 255 + 0.5, 0, 255).astype(np.intp)
    out[valid] = lut[idx]
    return out


# --------------------------------------------------------------------------------------
# Pairing
# --------------------------------------------------------------------------------------
def depth_pairs(split_dir: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """``(file name, rgb_path, depth_path)`` for every pair of a split folder (strict: an
    unpaired file is an error); the pairing rule lives in :mod:`maikit.data.layout`."""
    return [(p.name, Path(p.input_path), Path(p.target_path)) for p in find_pairs(Path(split_dir), DEPTH)]


# --------------------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Augment:
    """Which augmentations run and how strong they are; every option can be switched off.

    Sources (depth report §4): horizontal flips, rotations and colour/brightness changes
    (JMU-CVLab used rotations up to 15°; the default here is a milder 5°); the "R² crop"
    of AIIA HIT — a crop at a random location with a random size, resized back.
    """

    hflip: bool = True
    hflip_prob: float = 0.5
    r2_crop: bool = True
    crop_prob: float = 0.5
    crop_scale: tuple[float, float] = (0.6, 1.0)  # crop side / frame side
    crop_aspect_jitter: float = 0.1  # each side scales independently by up to +-10%
    rotate: bool = True
    rotate_prob: float = 0.5
    max_rotation_deg: float = 5.0
    colour: bool = True  # photometric jitter, image only
    colour_prob: float = 0.8
    brightness: float = 0.2  # gain in [1-b, 1+b]
    contrast: float = 0.2
    saturation: float = 0.2
    channel_gain: float = 0.05  # per-channel white-balance shift
    gamma: tuple[float, float] = (0.8, 1.25)

    @classmethod
    def off(cls) -> "Augment":
        return cls(hflip=False, r2_crop=False, rotate=False, colour=False)

    def only(self, *names: str) -> "Augment":
        """A copy with only the named switches (``hflip``, ``r2_crop``, ``rotate``, ``colour``) on."""
        switches = ("hflip", "r2_crop", "rotate", "colour")
        bad = [n for n in names if n not in switches]
        if bad:
            raise ValueError(f"unknown augmentation `{bad[0]}`; choose from {', '.join(switches)}")
        return replace(self, **{s: s in names for s in switches})

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class AugmentDraw:
    """The random choices for one sample (all drawn every time, so switching one option
    off does not change the others' draws)."""

    flip: bool
    crop: tuple[float, float, float, float] | None  # x0, y0, w, h in input pixels
    angle_deg: float
    brightness: float
    contrast: float
    saturation: float
    gains: tuple[float, float, float]
    gamma: float
    jitter: bool


def draw_augment(aug: Augment, rng: np.random.Generator, hw: tuple[int, int]) -> AugmentDraw:
    h, w = hw
    u = rng.random(4)  # flip, crop, rotate, colour decisions
    s = rng.uniform(*aug.crop_scale)
    ax, ay = np.exp(rng.uniform(-1, 1, 2) * math.log1p(aug.crop_aspect_jitter))
    cw, ch = min(w, w * s * ax), min(h, h * s * ay)
    x0, y0 = rng.random() * (w - cw), rng.random() * (h - ch)
    angle = rng.uniform(-1, 1) * aug.max_rotation_deg
    b, c, sat = 1 + rng.uniform(-1, 1, 3) * (aug.brightness, aug.contrast, aug.saturation)
    gains = 1 + rng.uniform(-1, 1, 3) * aug.channel_gain
    gamma = math.exp(rng.uniform(math.log(aug.gamma[0]), math.log(aug.gamma[1])))
    do_crop = aug.r2_crop and u[1] < aug.crop_prob
    return AugmentDraw(
        flip=bool(aug.hflip and u[0] < aug.hflip_prob),
        crop=(x0, y0, cw, ch) if do_crop else None,
        angle_deg=float(angle) if aug.rotate and u[2] < aug.rotate_prob else 0.0,
        brightness=float(b),
        contrast=float(c),
        saturation=float(sat),
        gains=tuple(float(g) for g in gains),
        gamma=float(gamma),
        jitter=bool(aug.colour and u[3] < aug.colour_prob),
    )


def inverse_affine(draw: AugmentDraw, hw: tuple[int, int]) -> np.ndarray:
    """3x3 map from output pixel coordinates to input pixel coordinates (centres at integers).

    The forward order is crop+resize, then rotation about the centre, then flip; the inverse
    chains their inverses in reverse.
    """
    h, w = hw
    m = np.eye(3)
    if draw.flip:
        m = np.array([[-1.0, 0, w - 1], [0, 1, 0], [0, 0, 1]]) @ m
    if draw.angle_deg:
        cx, cy = (w - 1) / 2, (h - 1) / 2
        a = math.radians(draw.angle_deg)
        ca, sa = math.cos(a), math.sin(a)
        r = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1.0]])
        t = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
        m = t @ r @ np.linalg.inv(t) @ m
    if draw.crop is not None:
        x0, y0, cw, ch = draw.crop
        sx, sy = cw / w, ch / h
        # output pixel centre (x + 0.5) spans the crop [x0, x0 + cw] in input units
        m = np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5], [0, 0, 1.0]]) @ m
    return m


def apply_geometry(rgb: np.ndarray, depth_mm: np.ndarray, draw: AugmentDraw) -> tuple[np.ndarray, np.ndarray]:
    """Warp image (bilinear, reflected border) and depth (nearest, 0 outside) identically."""
    if draw.crop is None and not draw.angle_deg:
        if draw.flip:  # exact and cheaper than a warp
            return np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(depth_mm[:, ::-1])
        return rgb, depth_mm
    h, w = depth_mm.shape
    m = inverse_affine(draw, (h, w))[:2].astype(np.float64)
    inv = cv2.WARP_INVERSE_MAP
    rgb = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR | inv, borderMode=cv2.BORDER_REFLECT_101)
    depth_mm = cv2.warpAffine(
        depth_mm, m, (w, h), flags=cv2.INTER_NEAREST | inv, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return rgb, depth_mm


def apply_colour(rgb: np.ndarray, draw: AugmentDraw) -> np.ndarray:
    """Photometric jitter on an RGB image (uint8 or float 0-255) -> float32 0-255."""
    if not draw.jitter:
        return np.asarray(rgb, np.float32)
    x = np.asarray(rgb, np.float32) * np.float32(draw.brightness / 255)
    mean = x.mean()
    x = (x - mean) * np.float32(draw.contrast) + mean
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = grey[..., None] + (x - grey[..., None]) * np.float32(draw.saturation)
    x = x * np.asarray(draw.gains, np.float32)
    x = np.clip(x, 0, 1) ** np.float32(draw.gamma)
    return x * np.float32(255)


def augment_pair(
    rgb: np.ndarray, depth_mm: np.ndarray, aug: Augment, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented pair: (HxWx3 float32 0-255, HxW uint16 mm)."""
    draw = draw_augment(aug, rng, depth_mm.shape)
    rgb, depth_mm = apply_geometry(rgb, depth_mm, draw)
    return apply_colour(rgb, draw), depth_mm


# --------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------
class DepthDataset:  # a map-style dataset for torch's DataLoader; torch is imported on use (evaluation runs without it)
    """RGB -> depth pairs of one split folder (``ROOT/train``, ``ROOT/val``...), read lazily.

    Items are ``(x, y)``: x = float32 3xHxW RGB in 0-255, y = float32 1xHxW depth in metres
    (0 = unknown). ``augment`` is False, True (default :class:`Augment`) or an Augment.
    Augmentation is deterministic given ``seed``, the item index and the epoch
    (:meth:`set_epoch`), so runs repeat exactly, also with several loader workers.
    ``files`` restricts the dataset to these names (with or without ``.png``);
    ``expect_hw`` rejects frames of another size (e.g. ``(480, 640)``).
    """

    def __init__(
        self,
        split_dir: str | os.PathLike,
        augment: bool | Augment = False,
        seed: int = 0,
        files: Iterable[str] | None = None,
        expect_hw: tuple[int, int] | None = None,
    ):
        self.split_dir = Path(split_dir)
        if not self.split_dir.is_dir():
            raise MaikitError("split folder not found", self.split_dir)
        pairs = depth_pairs(self.split_dir)
        if files is not None:
            by_name = {name: (name, r, d) for name, r, d in pairs}
            wanted = [str(f) if str(f).lower().endswith(".png") else f"{f}.png" for f in files]
            missing = [f for f in wanted if f not in by_name]
            if missing:
                raise MaikitError(f"no pair named `{missing[0]}` in this split", self.split_dir)
            pairs = [by_name[f] for f in wanted]
        if not pairs:
            raise MaikitError("no RGB/depth pairs found", self.split_dir)
        self.pairs: list[tuple[str, Path, Path]] = pairs
        if augment is True:
            augment = Augment()
        self.augment: Augment | None = augment if isinstance(augment, Augment) else None
        self.seed = int(seed)
        self.epoch = 0
        self.expect_hw = tuple(expect_hw) if expect_hw is not None else None

    @property
    def names(self) -> list[str]:
        return [p[0] for p in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored pair, unaugmented: (HxWx3 uint8 RGB, HxW uint16 mm)."""
        _, rgb_path, depth_path = self.pairs[index]
        rgb, depth_mm = read_rgb(rgb_path), read_depth_mm(depth_path)
        if rgb.shape[:2] != depth_mm.shape:
            raise MaikitError(
                f"depth is {depth_mm.shape[1]}x{depth_mm.shape[0]} but its RGB "
                f"is {rgb.shape[1]}x{rgb.shape[0]} (width x height)",
                depth_path,
            )
        if self.expect_hw is not None and depth_mm.shape != self.expect_hw:
            h, w = self.expect_hw
            raise MaikitError(f"frame is {depth_mm.shape[1]}x{depth_mm.shape[0]}, expected {w}x{h}", depth_path)
        return rgb, depth_mm

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        rgb, depth_mm = self.load(index)
        if self.augment is not None:
            x, depth_mm = augment_pair(rgb, depth_mm, self.augment, self.rng(index))
        else:
            x = rgb.astype(np.float32)
        import torch

        x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
        y = torch.from_numpy(depth_mm_to_m(depth_mm))[None]
        return x, y
