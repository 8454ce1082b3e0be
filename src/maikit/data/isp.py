"""ISP data: RAW packing/unpacking, RAW file reading, and the lazy ISP datasets.

Format (docs/references.md#isp-data): ``ROOT/<split>/mediatek_raw/<name>.png`` holds a single-channel uint16
10-bit RGGB RAW (R at (0, 0), no black level), ``ROOT/<split>/fujifilm/<name>.png`` the
uint8 RGB target of the same height and width. The RAW is packed to 4 channels at half
resolution following a :class:`~maikit.taskspec.RawConvention` (default ``mai21``:
channels (B, Gb, R, Gr) = ``raw[1::2,1::2], raw[0::2,1::2], raw[0::2,0::2], raw[1::2,0::2]``,
divided by 1020, no clipping).

The datasets keep file names only (in NumPy string arrays, so forked DataLoader workers do
not copy them page by page through reference counting) and read each PNG in
``__getitem__``: memory stays flat as the dataset grows (the official loader read all
~24k pairs into RAM first and needed more than 32 GB).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from maikit import io as mio
from maikit.data.augment import apply_isp_geometry, sample_isp_geometry
from maikit.data.check import raw_problems, target_problems
from maikit.data.layout import Pair, find_pairs
from maikit.errors import MaikitError
from maikit.taskspec import ISP, RawConvention


# --------------------------------------------------------------------------------------
# Packing (pure functions)
# --------------------------------------------------------------------------------------
def pack_raw(raw: np.ndarray, convention: RawConvention = ISP.raw_convention) -> np.ndarray:
    """RAW Bayer HxW -> float32 (H/2, W/2, 4) packed per ``convention`` (NHWC order, no clip)."""
    raw = np.asarray(raw)
    if raw.ndim != 2:
        raise MaikitError(f"`raw` must be a single-channel HxW frame, got shape {raw.shape}")
    if raw.shape[0] % 2 or raw.shape[1] % 2:
        raise MaikitError(f"RAW size {raw.shape[0]}x{raw.shape[1]} is odd (height and width must be even)")
    packed = np.stack([raw[r::2, c::2] for r, c in convention.offsets], axis=-1).astype(np.float32)
    packed /= np.float32(convention.divisor)
    return packed


def unpack_raw(packed: np.ndarray, convention: RawConvention = ISP.raw_convention) -> np.ndarray:
    """Inverse of :func:`pack_raw`: (h, w, 4) -> uint16 (2h, 2w) RGGB mosaic.

    Values are rounded to the nearest integer and clipped to uint16, so it is exact for
    packed integer data.
    """
    packed = np.asarray(packed)
    if packed.ndim != 3 or packed.shape[2] != len(convention.offsets):
        raise MaikitError(f"`packed` must be (h, w, {len(convention.offsets)}), got shape {packed.shape}")
    h, w, _ = packed.shape
    values = np.clip(np.rint(packed.astype(np.float64) * convention.divisor), 0, np.iinfo(np.uint16).max)
    raw = np.empty((2 * h, 2 * w), np.uint16)
    for ch, (r, c) in enumerate(convention.offsets):
        raw[r::2, c::2] = values[:, :, ch]
    return raw


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------
def read_raw(path: str | Path, convention: RawConvention = ISP.raw_convention) -> np.ndarray:
    """Read and validate a RAW PNG: uint16 HxW, even size, within the convention's bit depth.

    Any even size works, including full-resolution 2976x3968 frames.
    """
    raw = mio.read_png(path)
    problems = raw_problems(raw, convention)
    if problems:
        raise MaikitError(problems[0], path)
    return raw


def read_packed(path: str | Path, convention: RawConvention = ISP.raw_convention) -> np.ndarray:
    """Read a RAW PNG and pack it: float32 (H/2, W/2, 4), e.g. the model input of `mai predict`."""
    return pack_raw(read_raw(path, convention), convention)


def read_rgb_target(path: str | Path, raw_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Read and validate an RGB target: uint8 HxWx3 (of size ``raw_hw`` when given)."""
    rgb = mio.read_png(path)
    problems = target_problems(rgb, ISP, raw_hw)
    if problems:
        raise MaikitError(problems[0], path)
    return rgb


def _chw_tensor(x: np.ndarray) -> torch.Tensor:  # noqa: F821
    import torch

    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def _path_array(paths: Iterable[str | Path]) -> np.ndarray:
    # One fixed-width bytes buffer (1 byte per character, no per-item Python objects).
    return np.array([os.fsencode(p) for p in paths], dtype=bytes)


def _as_pairs(files: Iterable[Pair | Sequence]) -> list[Pair]:
    pairs = []
    for f in files:
        if isinstance(f, Pair):
            pairs.append(f)
        else:
            inp, tgt = f
            pairs.append(Pair(Path(inp).name, Path(inp), Path(tgt)))
    return pairs


# --------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------
class IspDataset:  # a map-style dataset for torch's DataLoader; torch is imported on use (evaluation runs without it)
    """RAW -> RGB pairs of one split, read lazily.

    Item ``(x, y)``: ``x`` float32 4 x h x w packed RAW (normalised per ``convention``),
    ``y`` float32 3 x 2h x 2w RGB in [0, 1].

    ``patch``: packed crop size (128 for the challenge's 256x256 RGB training patches);
    None keeps whole frames. Without ``augment`` the crop is centred; with it the crop is
    random and one of the 8 flips/rotations is applied with the Bayer phase kept (see
    :mod:`maikit.data.augment`). Randomness depends only on (``seed``, epoch, index): call
    :meth:`set_epoch` before each epoch (workers pick it up when they are (re)started, i.e.
    with non-persistent DataLoader workers).

    ``files``: explicit pairs (``Pair`` or ``(raw_path, rgb_path)``) instead of listing
    ``split_dir``. Construction never reads an image.
    """

    def __init__(
        self,
        split_dir: str | Path | None = None,
        patch: int | None = None,
        augment: bool = False,
        seed: int = 0,
        convention: RawConvention = ISP.raw_convention,
        files: Iterable[Pair | Sequence] | None = None,
    ):
        if files is None:
            if split_dir is None:
                raise MaikitError("IspDataset needs `split_dir` or `files`")
            pairs = find_pairs(split_dir, ISP)
        else:
            pairs = _as_pairs(files)
        if patch is not None and patch < 1:
            raise MaikitError(f"`patch` must be a positive packed size, got {patch}")
        self.patch = patch
        self.augment = augment
        self.seed = int(seed)
        self.convention = convention
        self.epoch = 0
        self._names = _path_array(p.name for p in pairs)
        self._inputs = _path_array(p.input_path for p in pairs)
        self._targets = _path_array(p.target_path for p in pairs)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def names(self) -> list[str]:
        return [os.fsdecode(n) for n in self._names.tolist()]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def load_pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The validated files of item ``index``: RAW uint16 HxW and RGB uint8 HxWx3."""
        raw = read_raw(os.fsdecode(self._inputs[index]), self.convention)
        rgb = read_rgb_target(os.fsdecode(self._targets[index]), raw.shape)
        return raw, rgb

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index = index % len(self)
        raw, rgb = self.load_pair(index)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        try:
            geom = sample_isp_geometry(rng, raw.shape, self.patch, self.augment)
        except MaikitError as e:
            raise MaikitError(e.reason, os.fsdecode(self._inputs[index])) from None
        raw, rgb = apply_isp_geometry(raw, rgb, geom)
        x = _chw_tensor(pack_raw(raw, self.convention))
        y = _chw_tensor(rgb.astype(np.float32) / np.float32(255.0))
        return x, y


class IspRawDataset:  # a map-style dataset for torch's DataLoader; torch is imported on use (evaluation runs without it)
    """RAW frames without targets (e.g. test or full-resolution frames for prediction).

    ``source``: a folder of RAW PNGs (a split folder holding ``mediatek_raw/``, or e.g. the
    official ``test/fujifilm_full_resolution/``, which holds 2976x3968 RAW frames despite its
    name) or a list of files. Item ``(x, name)``: ``x`` float32 4 x H/2 x W/2, any even size.
    """

    def __init__(self, source: str | Path | Iterable[str | Path], convention: RawConvention = ISP.raw_convention):
        if isinstance(source, (str, Path)):
            folder = Path(source)
            if (folder / ISP.input_dir).is_dir():
                folder = folder / ISP.input_dir
            if not folder.is_dir():
                raise MaikitError("folder not found", folder)
            paths = list(mio.list_pngs(folder).values())
            if not paths:
                raise MaikitError("no PNG files", folder)
        else:
            paths = [Path(p) for p in source]
        self.convention = convention
        self._paths = _path_array(paths)

    def __len__(self) -> int:
        return len(self._paths)

    @property
    def names(self) -> list[str]:
        return [Path(os.fsdecode(p)).name for p in self._paths.tolist()]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        path = os.fsdecode(self._paths[index])
        return _chw_tensor(read_packed(path, self.convention)), Path(path).name
