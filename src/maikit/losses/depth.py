"""Depth losses used by the teams of depth report §4; every one ignores unknown depth.

Predictions and targets are depth in metres, N x 1 x H x W; the trainer passes
``mask = target > 0`` (0 = unknown, docs/references.md#depth-data). Log-space losses clamp the prediction to
``min_depth`` (1 mm) so that the logarithm stays finite.

These are losses, not the challenge metric (``maikit.metrics``); the SILog family in
particular has several published variants, all reachable through ``silog``'s arguments
with ``d = ln pred − ln gt`` over the valid pixels of each image:

* ``silog(lam=0.85, scale=1)``: ``scale · sqrt(mean d² − lam · (mean d)²)`` — default;
* BTS / AdaBins: ``lam=0.85, scale=10``; Depth-Anything: ``lam=0.5``;
* ``lam=1``: the challenge's si-RMSE (``scale_invariant``), blind to a global scale;
* ``lam=0``: the RMSE of log depth; ``sqrt=False`` gives Eigen et al.'s squared form.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from maikit.errors import MaikitError
from maikit.losses._registry import (
    expand_mask,
    masked_mean,
    mean_over_valid_images,
    per_image_stats,
    register_alias,
    register_loss,
)

# A numerical floor, not a property of the data: depths (predicted or target) are clamped to
# it before a logarithm so that log-depth losses stay finite. The sensor's range is
# ``maikit.taskspec.DEPTH.sensor_range``.
LOG_FLOOR_M = 1e-3


def _log_diff(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, min_depth: float) -> torch.Tensor:
    """``ln pred − ln gt`` where valid, 0 elsewhere (the target is clamped there only to stay finite)."""
    m = expand_mask(mask, pred)
    d = torch.log(pred.clamp_min(min_depth)) - torch.log(target.clamp_min(min_depth))
    return d * m


@register_loss("silog")
class SILogLoss(nn.Module):
    """Scale-invariant log loss ``scale · sqrt(mean d² − lam · (mean d)²)`` per image (module docstring)."""

    def __init__(self, lam: float = 0.85, scale: float = 1.0, sqrt: bool = True, min_depth: float = LOG_FLOOR_M,
                 eps: float = 1e-8):
        super().__init__()
        self.lam, self.scale, self.sqrt = float(lam), float(scale), bool(sqrt)
        self.min_depth, self.eps = float(min_depth), float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        d = _log_diff(pred, target, mask, self.min_depth)
        count, mean, mean_sq = per_image_stats(d, mask)
        value = (mean_sq - self.lam * mean**2).clamp_min(0.0)
        if self.sqrt:
            value = torch.sqrt(value + self.eps)  # eps: finite gradient at a perfect prediction
        return self.scale * mean_over_valid_images(value, count)


register_alias("scale_invariant", "silog", lam=1.0)
register_alias("si", "silog", lam=1.0)
register_alias("si_rmse", "silog", lam=1.0)


@register_loss("gradient")
class GradientMatchingLoss(nn.Module):
    """Multi-scale gradient matching: mean ``|∇R|`` of the residual ``R`` over ``scales`` levels.

    ``space="log"``: ``R = ln pred − ln gt`` — the scale-invariant form (MiDaS / MegaDepth,
    used by SmartLab). ``space="linear"``: ``R = pred − gt``, i.e. the L1 distance between the
    depth gradients of prediction and target (AIIA HIT's gradient loss; alias ``gradient_l1``,
    one scale). Level k subsamples by 2^k; a finite difference counts only where both of its
    pixels are valid. The levels' means are summed.
    """

    def __init__(self, scales: int = 4, space: str = "log", min_depth: float = LOG_FLOOR_M):
        super().__init__()
        if space not in ("log", "linear"):
            raise MaikitError(f"`space` must be log or linear, got {space!r}")
        if scales < 1:
            raise MaikitError(f"`scales` must be at least 1, got {scales}")
        self.scales, self.space, self.min_depth = int(scales), space, float(min_depth)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        m = expand_mask(mask, pred)
        if self.space == "log":
            r = _log_diff(pred, target, mask, self.min_depth)
        else:
            r = (pred - target) * m
        total = pred.sum() * 0.0
        for k in range(self.scales):
            s = 2**k
            rk, mk = r[..., ::s, ::s], m[..., ::s, ::s]
            if rk.shape[-1] < 2 and rk.shape[-2] < 2:
                break
            gx = (rk[..., :, 1:] - rk[..., :, :-1]).abs() * (mk[..., :, 1:] * mk[..., :, :-1])
            gy = (rk[..., 1:, :] - rk[..., :-1, :]).abs() * (mk[..., 1:, :] * mk[..., :-1, :])
            count = mk.sum()
            if count.item() > 0:
                total = total + (gx.sum() + gy.sum()) / count
        return total


register_alias("gradient_matching", "gradient")
register_alias("grad", "gradient")
register_alias("gradient_l1", "gradient", space="linear", scales=1)


def default_focal_px(height: int) -> float:
    """ZED-like focal length for an image ``height`` pixels tall (the synthetic data's camera)."""
    from maikit.data.synth_depth import ZED_VGA_FOCAL_PX

    return ZED_VGA_FOCAL_PX * height / 480.0


@register_loss("virtual_normal")
class VirtualNormalLoss(nn.Module):
    """Virtual normal loss (Yin et al., ICCV 2019): L1 between normals of random 3-point planes.

    Per image, ``samples`` triplets of valid pixels are drawn (torch's global RNG, so a seeded
    run is reproducible), back-projected with a pinhole camera (``fx``, ``fy``, ``cx``, ``cy`` in
    pixels; default: the ZED-like camera of the synthetic data, centred), and the unit normals
    of the planes they span are compared. Triplets that are nearly collinear in the target
    point cloud (|e1 × e2| < ``min_sine`` · |e1| · |e2|) are dropped, as in the paper.
    """

    def __init__(self, samples: int = 1000, fx: float | None = None, fy: float | None = None,
                 cx: float | None = None, cy: float | None = None, min_sine: float = 0.1):
        super().__init__()
        self.samples, self.min_sine = int(samples), float(min_sine)
        self.fx, self.fy, self.cx, self.cy = fx, fy, cx, cy

    def _points(self, depth: torch.Tensor, u: torch.Tensor, v: torch.Tensor, h: int, w: int) -> torch.Tensor:
        fx = self.fx if self.fx is not None else default_focal_px(h)
        fy = self.fy if self.fy is not None else fx
        cx = self.cx if self.cx is not None else (w - 1) / 2.0
        cy = self.cy if self.cy is not None else (h - 1) / 2.0
        z = depth
        return torch.stack(((u - cx) * z / fx, (v - cy) * z / fy, z), -1)

    @staticmethod
    def _normals(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
        n = torch.linalg.cross(e1, e2)
        return n, e1.norm(dim=-1) * e2.norm(dim=-1), n.norm(dim=-1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n_img, _, h, w = pred.shape
        valid = expand_mask(mask, target)[:, 0] > 0
        losses = []
        for i in range(n_img):
            idx = valid[i].flatten().nonzero().squeeze(1)
            if idx.numel() < 3:
                continue
            pick = idx[torch.randint(idx.numel(), (self.samples, 3)).to(idx.device)]
            u, v = (pick % w).to(pred.dtype), (pick // w).to(pred.dtype)
            p_gt = self._points(target[i, 0].flatten()[pick], u, v, h, w)
            p_pr = self._points(pred[i, 0].flatten()[pick], u, v, h, w)
            n_gt, scale_gt, len_gt = self._normals(p_gt)
            keep = len_gt > self.min_sine * scale_gt.clamp_min(1e-12)
            if not bool(keep.any()):
                continue
            n_pr, _, len_pr = self._normals(p_pr)
            n_gt = n_gt[keep] / len_gt[keep].unsqueeze(-1)
            n_pr = n_pr[keep] / len_pr[keep].clamp_min(1e-12).unsqueeze(-1)
            losses.append((n_pr - n_gt).abs().sum(-1).mean())
        if not losses:
            return pred.sum() * 0.0
        return torch.stack(losses).mean()


register_alias("vnl", "virtual_normal")


@register_loss("robust")
class RobustLoss(nn.Module):
    """Barron's general robust loss ρ(x, α, c) (CVPR 2019) with fixed shape ``alpha`` and scale ``c``.

    ``ρ = |α−2|/α · (((x/c)²/|α−2| + 1)^(α/2) − 1)``, with its limits at α = 2 (``½(x/c)²``),
    α = 0 (``log(½(x/c)² + 1)``) and α = −inf (``1 − exp(−½(x/c)²)``); x is the residual in
    metres (``space="linear"``, c default 0.1 m) or of log depth (``space="log"``).
    """

    def __init__(self, alpha: float = 1.0, c: float = 0.1, space: str = "linear", min_depth: float = LOG_FLOOR_M):
        super().__init__()
        if c <= 0:
            raise MaikitError(f"`c` must be positive, got {c}")
        if space not in ("log", "linear"):
            raise MaikitError(f"`space` must be log or linear, got {space!r}")
        self.alpha, self.c, self.space, self.min_depth = float(alpha), float(c), space, float(min_depth)

    def rho(self, x: torch.Tensor) -> torch.Tensor:
        a, sq = self.alpha, (x / self.c) ** 2
        if a == 2.0:
            return 0.5 * sq
        if a == 0.0:
            return torch.log1p(0.5 * sq)
        if a == float("-inf"):
            return -torch.expm1(-0.5 * sq)
        b = abs(a - 2.0)
        return b / a * ((sq / b + 1.0) ** (a / 2.0) - 1.0)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.space == "log":
            x = torch.log(pred.clamp_min(self.min_depth)) - torch.log(target.clamp_min(self.min_depth))
        else:
            x = pred - target
        return masked_mean(self.rho(x), mask)


register_alias("barron", "robust")


@register_loss("berhu")
class BerHuLoss(nn.Module):
    """Reverse Huber: L1 below ``c = threshold · max|residual|`` (per batch), scaled L2 above."""

    def __init__(self, threshold: float = 0.2):
        super().__init__()
        self.threshold = float(threshold)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = (pred - target).abs() * expand_mask(mask, pred)
        c = (self.threshold * x.detach().max()).clamp_min(1e-6)
        value = torch.where(x <= c, x, (x**2 + c**2) / (2 * c))
        return masked_mean(value, mask)
