"""ISP fidelity metrics of the MAI 2021 challenge: PSNR, SSIM and MS-SSIM (docs/references.md#metrics).

Exact to the organisers' definitions, computed in float64 with NumPy/OpenCV:

* Inputs are images in HWC (one image) or NHWC (a batch) layout; PyTorch tensors are
  accepted in CHW / NCHW layout and converted. uint8 values are divided by 255, uint16 by
  65535 (as ``tf.image.convert_image_dtype``); float values are taken as they are, on the
  [0, 1] scale (``max_val = 1``).
* The prediction is clipped to [0, 1] first; there is no rounding to uint8. The clipped
  prediction is used for all three metrics: it is what a saved output can hold, and TF's
  SSIM expects values inside ``[0, max_val]``.
* PSNR per image: ``20*log10(1/sqrt(mse))`` with the MSE over all pixels and channels.
  Identical images give ``inf``; when PSNR values are AVERAGED (``average_psnr``,
  :class:`IspMetrics`, ``mai metrics isp``) each image's value is capped at
  ``PSNR_CAP_DB = 100`` dB so that one perfect image does not make the mean infinite.
* SSIM as ``tf.image.ssim(max_val=1)`` and MS-SSIM as ``tf.image.ssim_multiscale(max_val=1)``.
  From TensorFlow's ``python/ops/image_ops_impl.py`` (``_fspecial_gauss``,
  ``_ssim_helper``, ``_ssim_per_channel``, ``ssim_multiscale``):

  - the 11x11 window is the softmax of ``-(x^2+y^2)/(2*1.5^2)``, i.e. the outer product
    of two normalised 1-D Gaussians: it is separable and applied as two 1-D passes;
  - filtering is ``depthwise_conv2d(..., padding='VALID')``: no padding, the maps shrink
    by 10 px per axis; TF asserts ``H, W >= 11`` and never shrinks the window for small
    images, so images smaller than 11 px (161 px for MS-SSIM) are an error here too;
  - ``luminance = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)`` and
    ``cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)`` with biased (weighted)
    moments, C1 = (0.01)^2, C2 = (0.03)^2 (the "compensation" factor is 1.0);
  - SSIM = mean over the map of ``luminance * cs``, per channel, then the mean over
    channels;
  - MS-SSIM: 5 scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); between
    scales a 2x2 average pool (stride 2, VALID) after padding an odd height/width by ONE
    row/column at the end in SYMMETRIC mode (the edge pixel repeated); scales 1-4
    contribute the mean contrast-structure term ``cs``, the last scale the full SSIM;
    each term goes through ``relu`` before ``term ** weight``; the product is taken per
    channel and the channels are averaged last.

TF computes in float32; these float64 values agree with it to about 1e-6. All three metrics
of a full-resolution 2976x3968 pair take about 2-3 s on two CPU cores.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from maikit.errors import MaikitError
from maikit.metrics._base import (
    MetricAccumulator,
    check_finite,
    check_same_shape,
    is_torch_tensor,
    torch_to_numpy,
)
from maikit.taskspec import ISP

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
PSNR_CAP_DB = 100.0

_C1 = (SSIM_K1 * 1.0) ** 2  # max_val = 1
_C2 = (SSIM_K2 * 1.0) ** 2


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------
def _to_planes(img: Any, name: str) -> tuple[np.ndarray, bool]:
    """A contiguous float64 NCHW copy on the [0, 1] scale, and whether the input was a batch.

    Channel planes are contiguous so that every filter pass runs on one plane at a time.
    """
    if is_torch_tensor(img):
        arr = torch_to_numpy(img)
        if arr.ndim == 4:  # NCHW -> NHWC
            arr = arr.transpose(0, 2, 3, 1)
        elif arr.ndim == 3:  # CHW -> HWC
            arr = arr.transpose(1, 2, 0)
    else:
        arr = np.asarray(img)
    if arr.ndim == 2:
        arr, batched = arr[None, :, :, None], False
    elif arr.ndim == 3:
        arr, batched = arr[None], False
    elif arr.ndim == 4:
        batched = True
    else:
        raise MaikitError(f"`{name}` must be an HWC image or an NHWC batch, got shape {arr.shape}")
    if arr.dtype.kind not in "uf":
        raise MaikitError(f"`{name}` must be unsigned integer or float, got dtype {arr.dtype}")
    # A new array in every case: inputs are never modified.
    out = np.empty((arr.shape[0], arr.shape[3], arr.shape[1], arr.shape[2]), dtype=np.float64)
    out[...] = arr.transpose(0, 3, 1, 2)
    if arr.dtype.kind == "u":
        out /= float(np.iinfo(arr.dtype).max)
    else:
        check_finite(out, name)
    return out, batched


def _prepare(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    p, batched = _to_planes(pred, "pred")
    g, _ = _to_planes(gt, "gt")
    check_same_shape(p, g)
    if p.shape[0] == 0:
        raise MaikitError("`pred` is an empty batch")
    np.clip(p, 0.0, 1.0, out=p)
    return p, g, batched


def _unbatch(values: np.ndarray, batched: bool) -> float | np.ndarray:
    return values if batched else float(values[0])


# --------------------------------------------------------------------------------------
# Functional core (one image channel at a time: bounded memory on 12 MP images)
# --------------------------------------------------------------------------------------
def gaussian_window_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The normalised 1-D factor of TF's 2-D SSIM window (coords centred at (size-1)/2)."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * (coords / sigma) ** 2)
    return g / g.sum()


_WINDOW = gaussian_window_1d()


def _filter_valid(x: np.ndarray) -> np.ndarray:
    """Separable Gaussian filtering with VALID output: (H-10) x (W-10)."""
    r = SSIM_WINDOW // 2
    # OpenCV correlates with the (symmetric) kernel; border pixels are cropped away, so
    # the border mode never enters the result.
    out = cv2.sepFilter2D(x, cv2.CV_64F, _WINDOW, _WINDOW, borderType=cv2.BORDER_CONSTANT)
    return out[r:-r, r:-r]


def _ssim_cs_channel(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure of one HxW channel pair.

    Terms grouped as TF's ``_ssim_helper``:
    ``luminance = (num0 + C1) / (den0 + C1)``, ``cs = (num1 - num0 + C2) / (den1 - den0 + C2)``
    with ``num0 = 2 mu_x mu_y``, ``den0 = mu_x^2 + mu_y^2``, ``num1 = 2 E[xy]``,
    ``den1 = E[x^2 + y^2]``. In-place steps keep a 12 MP plane to a few temporaries.
    """
    mu_x, mu_y = _filter_valid(x), _filter_valid(y)
    num0 = mu_x * mu_y
    num0 *= 2.0
    den0 = np.square(mu_x, out=mu_x)
    den0 += np.square(mu_y, out=mu_y)
    del mu_y
    luminance = num0 + _C1
    luminance /= den0 + _C1
    num1 = _filter_valid(x * y)
    num1 *= 2.0
    sq = x * x
    sq += y * y
    den1 = _filter_valid(sq)
    del sq
    num1 -= num0
    num1 += _C2
    den1 -= den0
    den1 += _C2
    cs = np.divide(num1, den1, out=num1)
    cs_mean = float(np.mean(cs))
    luminance *= cs
    return float(np.mean(luminance)), cs_mean


def _downsample2(x: np.ndarray) -> np.ndarray:
    """TF's MS-SSIM downscale: SYMMETRIC pad of an odd side by one at the end, 2x2 mean."""
    h, w = x.shape
    if h % 2 or w % 2:
        x = np.pad(x, ((0, h % 2), (0, w % 2)), mode="symmetric")
    return 0.25 * (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2])


def _check_ssim_size(h: int, w: int, scales: int) -> None:
    small = min(h, w)
    for _ in range(scales - 1):
        small = -(-small // 2)  # ceil: odd sides are padded before pooling
    if small < SSIM_WINDOW:
        need = SSIM_WINDOW
        for _ in range(scales - 1):
            need = 2 * need - 1
        what = "SSIM" if scales == 1 else f"MS-SSIM ({scales} scales)"
        raise MaikitError(
            f"{what} needs images of at least {need}x{need} px (11 px at the coarsest scale, "
            f"no padding), got {h}x{w}"
        )


def _ms_ssim_channel(x: np.ndarray, y: np.ndarray, scale0: tuple[float, float] | None = None) -> float:
    """MS-SSIM of one channel pair; ``scale0`` reuses an already computed (ssim, cs)."""
    last = len(MS_SSIM_WEIGHTS) - 1
    result = 1.0
    for k, weight in enumerate(MS_SSIM_WEIGHTS):
        if k == 0 and scale0 is not None:
            ssim_k, cs_k = scale0
        else:
            if k > 0:
                x, y = _downsample2(x), _downsample2(y)
            ssim_k, cs_k = _ssim_cs_channel(x, y)
        term = ssim_k if k == last else cs_k
        result *= max(term, 0.0) ** weight  # relu before the power, as TF
    return result


def _per_channel_mean(p: np.ndarray, g: np.ndarray, fn) -> np.ndarray:
    """``fn`` over every image and channel plane of NCHW arrays, mean over channels -> (N,)."""
    return np.array([np.mean([fn(xc, yc) for xc, yc in zip(xi, yi)]) for xi, yi in zip(p, g)])


def _psnr_planes(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    diff = p - g
    mse = np.mean(np.square(diff, out=diff), axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(1.0 / np.sqrt(mse))


def _ssim_planes(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    _check_ssim_size(p.shape[2], p.shape[3], 1)
    return _per_channel_mean(p, g, lambda x, y: _ssim_cs_channel(x, y)[0])


def _ms_ssim_planes(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    _check_ssim_size(p.shape[2], p.shape[3], len(MS_SSIM_WEIGHTS))
    return _per_channel_mean(p, g, _ms_ssim_channel)


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------
def psnr(pred: Any, gt: Any) -> float | np.ndarray:
    """PSNR in dB of one image (float) or per image of a batch (array); ``inf`` if identical."""
    p, g, batched = _prepare(pred, gt)
    return _unbatch(_psnr_planes(p, g), batched)


def ssim(pred: Any, gt: Any) -> float | np.ndarray:
    """SSIM as ``tf.image.ssim(max_val=1)``: one image (float) or per image of a batch."""
    p, g, batched = _prepare(pred, gt)
    return _unbatch(_ssim_planes(p, g), batched)


def ms_ssim(pred: Any, gt: Any) -> float | np.ndarray:
    """MS-SSIM as ``tf.image.ssim_multiscale(max_val=1)``; images need >= 161 px per side."""
    p, g, batched = _prepare(pred, gt)
    return _unbatch(_ms_ssim_planes(p, g), batched)


def isp_metrics(pred: Any, gt: Any) -> dict[str, float | np.ndarray]:
    """``{"psnr", "ssim", "ms_ssim"}`` of one image (floats) or per image of a batch (arrays).

    Same values as the three separate functions; SSIM's full-resolution pass is shared
    with the first MS-SSIM scale.
    """
    p, g, batched = _prepare(pred, gt)
    _check_ssim_size(p.shape[2], p.shape[3], len(MS_SSIM_WEIGHTS))
    n = p.shape[0]
    ssim_vals, ms_vals = np.empty(n), np.empty(n)
    for i in range(n):
        scale0 = [_ssim_cs_channel(x, y) for x, y in zip(p[i], g[i])]
        ssim_vals[i] = np.mean([s for s, _ in scale0])
        ms_vals[i] = np.mean([_ms_ssim_channel(x, y, s0) for x, y, s0 in zip(p[i], g[i], scale0)])
    values = {"psnr": _psnr_planes(p, g), "ssim": ssim_vals, "ms_ssim": ms_vals}
    return {k: _unbatch(v, batched) for k, v in values.items()}


def average_psnr(values: Any) -> float:
    """Mean of per-image PSNRs with each value capped at ``PSNR_CAP_DB`` (identical -> 100 dB)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise MaikitError("no PSNR values to average")
    return float(np.mean(np.minimum(arr, PSNR_CAP_DB)))


# --------------------------------------------------------------------------------------
# Stateful wrapper
# --------------------------------------------------------------------------------------
class IspMetrics(MetricAccumulator):
    """Accumulates PSNR / SSIM / MS-SSIM over batches; ``compute()`` gives the means.

    ``update(pred, gt)`` takes one HWC image or an NHWC batch (NumPy), or CHW / NCHW
    PyTorch tensors, values in [0, 1] (or uint8). ``compute()`` returns
    ``{"psnr", "ssim", "ms_ssim", "images"}``: the mean over images, PSNR capped at
    ``PSNR_CAP_DB`` per image before averaging.
    """

    task = ISP

    def reset(self) -> None:
        self.per_image: dict[str, list[float]] = {"psnr": [], "ssim": [], "ms_ssim": []}

    @property
    def images(self) -> int:
        return len(self.per_image["psnr"])

    def update(self, pred: Any, gt: Any) -> dict[str, np.ndarray]:
        """Add one image or a batch; returns the per-image values of this update."""
        values = isp_metrics(pred, gt)
        arrays = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in values.items()}
        for k, v in arrays.items():
            self.per_image[k].extend(float(x) for x in v)
        return arrays

    def compute(self) -> dict:
        self._require_images()
        return {
            "psnr": average_psnr(self.per_image["psnr"]),
            "ssim": float(np.mean(self.per_image["ssim"])),
            "ms_ssim": float(np.mean(self.per_image["ms_ssim"])),
            "images": self.images,
        }


__all__ = [
    "IspMetrics", "MS_SSIM_WEIGHTS", "PSNR_CAP_DB", "average_psnr", "gaussian_window_1d",
    "isp_metrics", "ms_ssim", "psnr", "ssim",
]
