"""Model inputs for INT8 calibration and for export verification.

Real inputs come from a dataset split in the official layout (packed RAW per the run's
convention for ISP, RGB 0-255 floats for depth), fitted to the file's fixed shape by
periodic tiling (keeps the value statistics, unlike zero padding) or a centre crop.
Without data, inputs are uniform random values over the model's input range.

Verification of a calibrated (int8) file uses images of the same data, preferably ones the
calibration did not see: random noise drives the activations far outside the ranges learned
from images and measures clipping that real inputs never cause (a trained depth/aiia_hit
verified at 10.7 dB on noise, 27-36 dB on images its calibration did not use).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maikit.errors import MaikitError
from maikit.tasks import RawConvention, Task

DEFAULT_CALIBRATION_SAMPLES = 8


def fit_hw(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """HWC image -> exactly ``hw`` by periodic tiling where smaller and a centre crop where larger."""
    h, w = hw
    ih, iw = img.shape[:2]
    ph, pw = max(h - ih, 0), max(w - iw, 0)
    if ph or pw:
        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="wrap")
    ih, iw = img.shape[:2]
    top, left = (ih - h) // 2, (iw - w) // 2
    return img[top : top + h, left : left + w]


def read_model_input(path: str | os.PathLike, task: Task,
                     convention: RawConvention | None = None) -> np.ndarray:
    """One input file as the model's float HWC input (ISP: packed RAW; depth: RGB 0-255)."""
    return task.read_input(path, convention)


def random_inputs(task: Task, shape_nhwc: tuple[int, ...], n: int,
                  convention: RawConvention | None = None, seed: int = 0) -> list[np.ndarray]:
    """``n`` uniform random NHWC inputs over the task's input range."""
    lo, hi = task.input_range(convention)
    rng = np.random.default_rng(seed)
    return [rng.uniform(lo, hi, size=shape_nhwc).astype(np.float32) for _ in range(n)]


def data_inputs(
    task: Task, root: str | os.PathLike, shape_nhwc: tuple[int, ...], n: int,
    convention: RawConvention | None = None, split: str = "train",
) -> list[np.ndarray]:
    """Up to ``n`` inputs from ``root`` (a dataset root: its ``split``; or a split folder), evenly spaced."""
    pairs = _input_pairs(task, root, split)
    hw = tuple(int(v) for v in shape_nhwc[1:3])
    return [_fitted(pairs[i].input_path, task, hw, convention) for i in _spaced(len(pairs), n)]


def verification_inputs(
    task: Task, root: str | os.PathLike, shapes_nhwc: list[tuple[int, ...]], n_calib: int,
    convention: RawConvention | None = None, split: str = "train",
) -> tuple[list[np.ndarray], list[str]]:
    """One input per shape from ``root``'s ``split`` and the names of their files.

    Taken from the files :func:`data_inputs` with ``n_calib`` leaves out where there are
    any, else from the calibration files themselves.
    """
    pairs = _input_pairs(task, root, split)
    used = set(_spaced(len(pairs), n_calib).tolist())
    pool = [i for i in range(len(pairs)) if i not in used] or sorted(used)
    picks = [pool[j] for j in _spaced(len(pool), len(shapes_nhwc))]
    picks = [picks[k % len(picks)] for k in range(len(shapes_nhwc))]
    xs = [_fitted(pairs[i].input_path, task, tuple(int(v) for v in s[1:3]), convention) for i, s in zip(picks, shapes_nhwc)]
    return xs, [pairs[i].input_path.name for i in picks]


def check_calibration_data(task: Task, root: str | os.PathLike, n: int,
                           convention: RawConvention | None = None, split: str = "train") -> None:
    """Read the inputs :func:`data_inputs` would use, before any conversion starts.

    A missing folder, an empty split or an unreadable file is a MaikitError that says it is
    the calibration data and names the folder or file.
    """
    try:
        pairs = _input_pairs(task, root, split)
        for i in _spaced(len(pairs), n):
            task.read_input(pairs[i].input_path, convention)
    except MaikitError as e:
        raise MaikitError(f"calibration data: {e.reason}", e.file or root) from None


def _input_pairs(spec: Task, root: str | os.PathLike, split: str) -> list:
    from maikit.data.layout import find_pairs, resolve_split

    split_dir = resolve_split(Path(root), spec, split)
    pairs = find_pairs(split_dir, spec, strict=False)
    if not pairs:
        raise MaikitError("no input files for calibration", split_dir)
    return pairs


def _spaced(count: int, n: int) -> np.ndarray:
    """Up to ``n`` evenly spaced indices into ``count`` items."""
    return np.unique(np.linspace(0, count - 1, num=min(n, count)).round().astype(int))


def _fitted(path: Path, spec: Task, hw: tuple[int, int], convention: RawConvention | None) -> np.ndarray:
    return fit_hw(spec.read_input(path, convention), hw)[None].astype(np.float32)
