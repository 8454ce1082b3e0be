"""Helpers shared by the tests: tiny models and PNG/split writers independent of maikit's own.

The writers use plain OpenCV, so a test of maikit's readers never reads what maikit's own
writer produced. The pytest fixtures built on these live in ``tests/conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SMALL_HW = (32, 48)  # packed ISP input of the small fixed files (keeps the tests fast)


# -- tiny models -----------------------------------------------------------------------------
def _torch_models():
    import torch
    import torch.nn as nn

    class TinyIsp(nn.Module):
        """conv-tanh-conv-PixelShuffle, the shape of a minimal learned ISP (4 -> 3 channels, x2)."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.c1 = nn.Conv2d(4, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 12, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)

        def forward(self, x):
            return torch.sigmoid(self.shuffle(self.c2(torch.tanh(self.c1(x)))))

    class TinyDepth(nn.Module):
        """RGB 0-255 -> positive depth in metres at the same size."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 1, 3, padding=1)

        def forward(self, x):
            # scaled after the first conv: an elementwise op on the dynamic input itself does not
            # lower with dynamic height/width in this toolchain (the exporter then falls back)
            return 0.5 + 10.0 * torch.sigmoid(self.c2(torch.relu(self.c1(x) / 255.0)))

    return TinyIsp, TinyDepth


def __getattr__(name):  # TinyIsp / TinyDepth import PyTorch only when a test asks for them
    if name in ("TinyIsp", "TinyDepth"):
        isp, depth = _torch_models()
        globals().update(TinyIsp=isp, TinyDepth=depth)
        return globals()[name]
    raise AttributeError(name)


# -- files written with plain OpenCV -----------------------------------------------------------
def write_png_cv(path: Path, img: np.ndarray) -> Path:
    """A PNG written with OpenCV (RGB order for 3 channels), folders created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = img[:, :, ::-1] if img.ndim == 3 else img
    assert cv2.imwrite(str(path), np.ascontiguousarray(arr))
    return path


def mosaic_ref(rgb: np.ndarray) -> np.ndarray:
    """Reference RGGB mosaic: R at even/even, B at odd/odd, G elsewhere."""
    h, w, _ = rgb.shape
    rows, cols = np.mgrid[0:h, 0:w]
    channel = np.where((rows % 2 == 0) & (cols % 2 == 0), 0, np.where((rows % 2 == 1) & (cols % 2 == 1), 2, 1))
    return np.take_along_axis(rgb, channel[:, :, None], axis=2)[:, :, 0]


def make_isp_split(split_dir: Path, n: int = 3, hw: tuple[int, int] = (16, 24), seed: int = 0) -> list[str]:
    """Pairs whose RAW is exactly 4 x the mosaic of the RGB target (10-bit, <= 1020)."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        rgb = rng.integers(0, 256, size=(*hw, 3), dtype=np.uint8)
        raw = mosaic_ref(rgb).astype(np.uint16) * 4
        write_png_cv(split_dir / "mediatek_raw" / f"{i}.png", raw)
        write_png_cv(split_dir / "fujifilm" / f"{i}.png", rgb)
        names.append(f"{i}.png")
    return names


def make_depth_split(split_dir: Path, n: int = 2, seed: int = 0, hw: tuple[int, int] = (480, 640)) -> list[str]:
    """Random RGB photos and uint16 depth in millimetres (0.4 to 50 m)."""
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        write_png_cv(split_dir / "rgb" / f"{i}.png", rng.integers(0, 256, (*hw, 3), dtype=np.uint8))
        write_png_cv(split_dir / "depth" / f"{i}.png", rng.integers(400, 50000, hw, dtype=np.uint16))
        names.append(f"{i}.png")
    return names
