"""Building blocks shared by the model zoo (ISP and depth solutions).

Small, convertible pieces that several reports describe in the same words: "same"-padded
convolutions with an activation, separable convolutions, squeeze-and-excite channel
attention, plain residual blocks and residual dense blocks. Every block here lowers to
TFLite builtins with litert-torch (docs/references.md#lowering): no ``align_corners=True`` resizes, global
pooling as ``mean`` over H, W so it traces with dynamic shapes.

Also the zoo-wide helpers: :func:`clamp01` (the [0, 1] output contract of ISP models),
:func:`xavier_init`, and :func:`param_count`, which counts only the parameters the
exported ``forward`` uses (a model lists training-only sub-modules in
``train_only_modules``, e.g. ENERZAi's super-net head).

Signatures here are append-only: other modules depend on them.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from maikit.models.lowering import gpu_lowering_counts, tflite_lowering_active

def _nearest_index(n_in: int, n_out: int) -> torch.Tensor:
    """Source index of each output position at half-pixel centres: floor((i + 0.5) · n_in / n_out)."""
    return torch.tensor([min(((2 * i + 1) * n_in) // (2 * n_out), n_in - 1) for i in range(n_out)], dtype=torch.long)


def resize_nearest(x: torch.Tensor, size: tuple[int, int] | None = None, *,
                   scale_factor: int | None = None) -> torch.Tensor:
    """Nearest-neighbour resize that samples at half-pixel centres, in PyTorch and in TFLite.

    ``size`` (H, W) or an integer ``scale_factor``. Eager PyTorch runs ``nearest-exact``. Inside
    :func:`lowering.tflite_lowering` the resize is traced as two constant-index gathers (along W, then
    along H), which litert-torch lowers to GATHER_ND row copies: 0.05 ms for 64×80 → 480×640
    on one core, where its RESIZE_NEAREST_NEIGHBOR kernel (not run by XNNPACK) takes 3.7 ms
    and a stride-10 TRANSPOSE_CONV 3.2 ms (benchmarks/RESULTS.md, "Deployment"). Mobile GPU
    delegates reject GATHER_ND, so inside :func:`lowering.gpu_friendly_lowering` (and whenever a size
    is symbolic, as in a dynamic-shape export) it is traced as legacy ``nearest``, which
    litert-torch 0.10 lowers to one RESIZE_NEAREST_NEIGHBOR with half-pixel centres — PyTorch's
    legacy ``nearest`` itself picks other pixels at non-integer factors, and ``nearest-exact``
    would lower to GATHER_ND + BROADCAST_TO. All three give the same pixels
    (tests/models/test_blocks_lowering.py, every factor the zoo uses).
    """
    if (size is None) == (scale_factor is None):
        raise ValueError("give exactly one of `size` and `scale_factor`")
    counts = gpu_lowering_counts()
    if counts is not None:
        counts["resize_nearest_op"] = counts.get("resize_nearest_op", 0) + 1
    if not tflite_lowering_active():
        return F.interpolate(x, size=size, scale_factor=scale_factor, mode="nearest-exact")
    h, w = x.shape[-2:]
    if counts is not None or not all(isinstance(n, int) for n in (h, w, *(size or ()))):
        return F.interpolate(x, size=size, scale_factor=scale_factor, mode="nearest")
    if size is None:
        size = (h * scale_factor, w * scale_factor)
    if size[1] != w:
        x = torch.index_select(x, 3, _nearest_index(w, size[1]))
    if size[0] != h:
        x = torch.index_select(x, 2, _nearest_index(h, size[0]))
    return x


def same_hw(x: torch.Tensor, size) -> bool:
    """Whether ``x`` already has height and width ``size``; never for symbolic sizes (a dynamic-shape
    export): comparing them with numbers would make torch.export fix the input's size."""
    hw = (*x.shape[-2:], *size)
    return all(isinstance(v, int) for v in hw) and tuple(x.shape[-2:]) == tuple(size)


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with half-pixel centres (``align_corners=False``), fast in TFLite for one channel.

    LiteRT's RESIZE_BILINEAR works pixel by pixel over the channels, so a one-channel map is its
    worst case: 1.0–1.5 ms for a depth map's 128×160 → 480×640 (one op, more than the rest
    of depth/jmu's decoder). Inside :func:`lowering.tflite_lowering`, a one-channel map with static
    sizes is resized one axis at a time with the other axis as channels — reshape, resize along
    W with H as channels, transpose, resize along H with W as channels — which is the same
    arithmetic, 3–4× faster (benchmarks/RESULTS.md, "Deployment"). Maps with several channels,
    symbolic sizes and :func:`lowering.gpu_friendly_lowering` keep the single op.
    """
    h, w = x.shape[-2:]
    if same_hw(x, size):
        return x
    counts = gpu_lowering_counts()
    if counts is not None and x.shape[1] == 1:
        counts["resize_bilinear_op"] = counts.get("resize_bilinear_op", 0) + 1
    plain = (not tflite_lowering_active() or counts is not None or x.shape[1] != 1
             or not all(isinstance(n, int) for n in (x.shape[0], h, w, *size)))
    if plain:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    n, (H, W) = x.shape[0], size
    y = F.interpolate(x.reshape(n, h, w, 1), size=(W, 1), mode="bilinear", align_corners=False)  # rows as channels
    y = y.reshape(n, h, W).permute(0, 2, 1).unsqueeze(-1)  # (n, W, h, 1): columns as channels
    y = F.interpolate(y, size=(H, 1), mode="bilinear", align_corners=False)
    return y.reshape(n, W, H).permute(0, 2, 1).unsqueeze(1)


class PReLU(nn.PReLU):
    """``nn.PReLU`` (same parameters and state dict) that exports as element-wise max/min.

    For slopes ``a ≤ 1``, PReLU(x) = max(x, a·x) (x ≥ 0: x ≥ a·x; x < 0: a·x ≥ x). Other
    slopes use max(x, c·x) + d·x − max(x, d·x) with c = min(a, 1), d = max(a, 1) (the last two
    terms are min(x, d·x) − x; ai-edge-quantizer quantises MAXIMUM but not MINIMUM).
    litert-torch writes ``nn.PReLU`` as RELU/MUL/SUB/MUL, whose int8 kernels in LiteRT run
    slower than float (so int8 keeps them in float, between DEQUANTIZE and QUANTIZE:
    :data:`maikit.export.quantize.FLOAT_TENSOR_PATTERNS`); MUL + MAXIMUM runs in int8 end to
    end, and in float it is two passes instead of four (``benchmarks/RESULTS.md``
    "Deployment"). The slopes are read when the export freezes the model
    (:func:`lowering.frozen_for_export`).
    """

    def freeze_for_export(self) -> None:
        with torch.no_grad():
            a = self.weight.detach().clone().reshape(1, -1, 1, 1)
        self._frozen = (a.clamp(max=1.0), a.clamp(min=1.0), bool((a <= 1).all()))

    def thaw(self) -> None:
        self._frozen = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frozen = getattr(self, "_frozen", None)
        if frozen is None or not tflite_lowering_active() or x.dim() != 4:
            return super().forward(x)
        below, above, all_below = frozen
        if all_below:
            return torch.maximum(x, x * below)
        ax = x * above
        return torch.maximum(x, x * below) + ax - torch.maximum(x, ax)


ACTIVATIONS = ("relu", "lrelu", "prelu", "tanh", "sigmoid", "hardswish", "relu6", "none")


def make_act(name: str, channels: int = 1) -> nn.Module:
    """An activation module by name; ``lrelu`` has slope 0.2 (PUNET/DPED), ``prelu`` is per channel."""
    if name == "relu":
        return nn.ReLU(inplace=False)
    if name == "lrelu":
        return nn.LeakyReLU(0.2)
    if name == "prelu":
        return PReLU(channels)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "hardswish":
        return nn.Hardswish()
    if name == "relu6":
        return nn.ReLU6()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation `{name}`; choose one of {', '.join(ACTIVATIONS)}")


def conv(
    cin: int, cout: int, k: int = 3, *, stride: int = 1, dilation: int = 1, groups: int = 1, bias: bool = True
) -> nn.Conv2d:
    """A "same"-padded convolution (output size = input size / stride for even inputs)."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k - 1) // 2, dilation=dilation,
                     groups=groups, bias=bias)


class UpConv(nn.Module):
    """Transposed convolution that upsamples exactly ×stride, aligned like TF's "SAME".

    An odd ``k − stride`` (e.g. 3×3 stride 2) needs asymmetric cropping. PyTorch's
    ``output_padding`` does not convert with litert-torch ("failed to legalize
    mhlo.convolution") and a crop does not convert with dynamic H, W, so the k×k kernel is
    zero-padded at its start to (k+1)×(k+1) and run with symmetric padding — the same
    output as TF's conv2d_transpose (smaller half of the padding first), k×k parameters.
    With few output channels the CPU export writes it in the sub-pixel form
    (:func:`subpixel_conv_transpose`).
    """

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 2):
        super().__init__()
        if k < stride:
            raise ValueError(f"`k` must be >= `stride` for an exact ×{stride} transposed conv, got k={k}")
        total = k - stride
        self.stride, self.padding = stride, total // 2
        self.odd = bool(total % 2)
        self.conv = nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=self.padding)

    # up to this many output channels the CPU export uses the sub-pixel form (`subpixel_conv_transpose`)
    SUBPIXEL_MAX_COUT = 15

    def _kernel(self) -> tuple[torch.Tensor, int]:
        if self.odd:
            return F.pad(self.conv.weight, (1, 0, 1, 0)), self.padding + 1
        return self.conv.weight, self.padding

    def freeze_for_export(self) -> None:
        """Precompute the sub-pixel weights (constants in the traced graph; see :func:`lowering.frozen_for_export`)."""
        with torch.no_grad():
            w, pad = self._kernel()
            weight, before, after = _subpixel_weight(w.detach().clone(), self.stride, pad)
            bias = None if self.conv.bias is None else self.conv.bias.detach().repeat_interleave(self.stride ** 2)
        self._subpixel = (weight, bias, before, after)
        # for symbolic H, W: the input padding moved into the kernel's zeros so that it is symmetric
        # (the convolution's own padding lowers at any size, a separate asymmetric PAD does not)
        grow = (max(0, after - before), max(0, before - after))
        self._dynamic = (F.pad(weight, (*grow, *grow)), bias, max(before, after), shuffle_weight(weight.shape[0], self.stride))

    def thaw(self) -> None:
        self._subpixel = self._dynamic = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = gpu_lowering_counts()
        if counts is not None and self.conv.out_channels <= self.SUBPIXEL_MAX_COUT:
            counts["up_conv_as_transpose_conv"] = counts.get("up_conv_as_transpose_conv", 0) + 1
        frozen = getattr(self, "_subpixel", None)
        if frozen is not None and tflite_lowering_active() and counts is None:
            if not all(isinstance(n, int) for n in x.shape):
                # symbolic H, W: litert-torch lowers a transposed convolution only with kernel = stride
                # then ("failed to legalize mhlo.convolution" otherwise); the sub-pixel convolution and its
                # shuffle as a one-hot stride-s transposed convolution lower, and run at any size
                weight, bias, pad, shuffle = self._dynamic
                y = F.conv2d(x, weight, bias, padding=pad)
                return F.conv_transpose2d(y, shuffle.to(y.dtype), stride=self.stride)
            if self.conv.out_channels <= self.SUBPIXEL_MAX_COUT:
                return _subpixel_forward(x, *frozen, self.stride)
        w, pad = self._kernel()
        return F.conv_transpose2d(x, w, self.conv.bias, stride=self.stride, padding=pad)


def shuffle_weight(channels: int, r: int) -> torch.Tensor:
    """``nn.PixelShuffle(r)`` of ``channels`` input channels as a stride-``r``, ``r``×``r`` transposed
    convolution weight: W[k, c, a, b] = 1 where k = c·r² + a·r + b (PixelShuffle's channel order),
    so each output pixel receives exactly one input value times 1.0."""
    if channels % (r * r):
        raise ValueError(f"pixel shuffle by {r} needs channels divisible by {r * r}, got {channels}")
    w = torch.zeros(channels, channels // (r * r), r, r)
    k = torch.arange(channels)
    c, rem = k // (r * r), k % (r * r)
    w[k, c, rem // r, rem % r] = 1.0
    return w


def _subpixel_weight(w: torch.Tensor, s: int, p: int) -> tuple[torch.Tensor, int, int]:
    """A transposed conv's ``[Cin, Cout, k, k]`` weight (stride ``s``, padding ``p``, output ``s`` × input)
    as a stride-1 conv weight ``[Cout·s², Cin, K, K]`` in pixel-shuffle channel order, and the
    (before, after) zero padding of its input.

    Output ``y[s·m + a] = Σ_j x[m + q − j] · w[r + s·j]`` with ``q, r = divmod(a + p, s)``: each
    phase ``a`` is a correlation over input offsets ``q − j``; all phases share one kernel over
    the union of their offsets, zero where a phase has no tap.
    """
    cin, cout, k = w.shape[0], w.shape[1], w.shape[2]
    taps = {a: [((a + p) // s - j, (a + p) % s + s * j) for j in range(-(-(k - (a + p) % s) // s))] for a in range(s)}
    offsets = [d for a in taps for d, _ in taps[a]]
    lo, hi = min(offsets), max(offsets)
    out = w.new_zeros(cout, s, s, cin, hi - lo + 1, hi - lo + 1)
    for ah in range(s):
        for dh, th in taps[ah]:
            for aw in range(s):
                for dw, tw in taps[aw]:
                    out[:, ah, aw, :, dh - lo, dw - lo] = w[:, :, th, tw].t()
    return out.reshape(cout * s * s, cin, hi - lo + 1, hi - lo + 1), -lo, hi


def subpixel_conv_transpose(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, stride: int,
                            padding: int) -> torch.Tensor:
    """``F.conv_transpose2d(x, w, bias, stride, padding)`` for an output exactly ``stride`` × the input,
    computed as one stride-1 convolution with ``stride²`` times the output channels followed by
    a pixel shuffle (the "sub-pixel" form). In TFLite that is CONV_2D + DEPTH_TO_SPACE
    (:func:`maikit.export.fold.shuffles_to_depth_to_space`), which XNNPACK runs 3–4× faster than
    its TRANSPOSE_CONV when the output has few channels (PUNET's last 16 → 4 up-convolution to
    1088×1920: 167 → 44 ms on one core), for 16/9 of the multiply-adds of a 3×3 kernel; with
    many output channels the deconvolution kernel is as fast or faster, so :class:`UpConv`
    uses this form (from weights precomputed by :func:`lowering.frozen_for_export`) only below 16 output
    channels, and not for GPU delegates or dynamic shapes.
    """
    if w.shape[2] - stride != 2 * padding:
        raise ValueError(f"a {w.shape[2]}x{w.shape[2]} kernel with stride {stride} and padding {padding} "
                         f"does not upsample exactly x{stride}")
    weight, before, after = _subpixel_weight(w, stride, padding)
    b = None if bias is None else bias.repeat_interleave(stride * stride)
    return _subpixel_forward(x, weight, b, before, after, stride)


def _subpixel_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, before: int, after: int,
                      stride: int) -> torch.Tensor:
    return F.pixel_shuffle(F.conv2d(F.pad(x, (before, after, before, after)), weight, bias), stride)


def up_conv(cin: int, cout: int, k: int = 3, *, stride: int = 2) -> nn.Module:
    """A transposed convolution that upsamples exactly ×stride (see :class:`UpConv`)."""
    return UpConv(cin, cout, k, stride)


class ConvAct(nn.Sequential):
    """conv → activation."""

    def __init__(self, cin: int, cout: int, k: int = 3, *, stride: int = 1, dilation: int = 1,
                 groups: int = 1, act: str = "relu"):
        super().__init__(conv(cin, cout, k, stride=stride, dilation=dilation, groups=groups), make_act(act, cout))


class SeparableConv(nn.Sequential):
    """Depth-wise k×k then point-wise 1×1 convolution (MobileNet style)."""

    def __init__(self, cin: int, cout: int, k: int = 3, *, dilation: int = 1):
        super().__init__(conv(cin, cin, k, dilation=dilation, groups=cin), conv(cin, cout, 1))


class SqueezeExcite(nn.Module):
    """Channel attention: mean over H, W → 1×1 conv → act → 1×1 conv → gate; rescales the input.

    ``hidden`` is the width of the squeezed descriptor (``channels // reduction`` when not given).
    """

    def __init__(self, channels: int, reduction: int = 4, *, hidden: int | None = None,
                 act: str = "relu", gate: str = "sigmoid"):
        super().__init__()
        hidden = hidden or max(1, channels // reduction)
        self.reduce = conv(channels, hidden, 1)
        self.act = make_act(act, hidden)
        self.expand = conv(hidden, channels, 1)
        self.gate = make_act(gate, channels)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel descriptor, N×C×1×1 (mean, not AdaptiveAvgPool: traces with dynamic H, W)."""
        s = x.mean(dim=(2, 3), keepdim=True)
        return self.gate(self.expand(self.act(self.reduce(s))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)


class ResidualBlock(nn.Module):
    """x + conv(act(conv(x))) — the plain two-conv residual block (EDSR/DPED style, no norm)."""

    def __init__(self, channels: int, k: int = 3, *, act: str = "relu", act_after: bool = False):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, k), make_act(act, channels), conv(channels, channels, k))
        self.post = make_act(act, channels) if act_after else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(x + self.body(x))


class DenseLayers(nn.Module):
    """``n`` densely connected layers (each sees the concat of all before it), fused by 1×1 to ``cout``.

    ``layer`` builds one layer ``(cin, growth) -> nn.Module`` (default 3×3 conv + ``act``).
    """

    def __init__(self, cin: int, growth: int, n: int, *, cout: int | None = None, act: str = "relu",
                 layer: Callable[[int, int], nn.Module] | None = None):
        super().__init__()
        layer = layer or (lambda i, o: ConvAct(i, o, 3, act=act))
        self.layers = nn.ModuleList(layer(cin + i * growth, growth) for i in range(n))
        self.fuse = conv(cin + n * growth, cout or cin, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=1)))
        return self.fuse(torch.cat(feats, dim=1))


class ResidualDenseBlock(nn.Module):
    """x + scale · DenseLayers(x) (RDN / ESRGAN's RDB; ``scale`` 0.2 as in ESRGAN)."""

    def __init__(self, channels: int, growth: int, n: int = 3, *, scale: float = 0.2, act: str = "relu",
                 layer: Callable[[int, int], nn.Module] | None = None):
        super().__init__()
        self.dense = DenseLayers(channels, growth, n, act=act, layer=layer)
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.dense(x)


# --------------------------------------------------------------------------------------
# zoo-wide helpers
# --------------------------------------------------------------------------------------
def clamp01(x: torch.Tensor) -> torch.Tensor:
    """Clip to the [0, 1] output range of ISP models (official scoring clips predictions too).

    ``clamp(x, 0, 1)`` (and every min/max spelling of it) lowers to the RELU_0_TO_1 builtin,
    which the challenges' TFLite 2.5-era delegates do not know, XNNPACK does not run, and
    ai-edge-quantizer does not quantise: an int8 file got a full-resolution DEQUANTIZE → float
    RELU_0_TO_1 → QUANTIZE island (isp/smallnet int8 at 1×544×960×4, 2 threads: 18.2 ms with
    it, 13.2 ms without; FP32 37.2 vs 37.8 ms, the same within noise). Inside
    :func:`lowering.tflite_lowering` (every export) it is therefore written ``relu6(6x) / 6``: the ×6
    folds into the preceding op where it can, RELU6 becomes a fused activation, one MUL remains
    — ops every delegate runs and int8 quantises, within one float32 rounding of the clamp.
    PyTorch itself (training, evaluation) runs the clamp. Under :func:`lowering.gpu_friendly_lowering`
    the substitution is also counted (``clamp01_as_relu6``).
    """
    counts = gpu_lowering_counts()
    if counts is not None:
        counts["clamp01_as_relu6"] = counts.get("clamp01_as_relu6", 0) + 1
    elif not tflite_lowering_active():
        return torch.clamp(x, 0.0, 1.0)
    return F.relu6(x * 6.0) * (1.0 / 6.0)


def xavier_init(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases for every (transposed) convolution."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def param_count(model: nn.Module, *, exported_only: bool = True) -> int:
    """Number of parameters; by default only those of the exported ``forward``.

    A model lists sub-modules used only in training (auxiliary heads) by attribute name in
    ``train_only_modules``; they are left out unless ``exported_only=False``.
    """
    skip: set[int] = set()
    if exported_only:
        for name in getattr(model, "train_only_modules", ()):
            skip.update(id(p) for p in getattr(model, name).parameters())
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)
