"""Task specifications: the single source of every number a task is defined by.

Layouts, dtypes, patch sizes, the challenge's latency and full-resolution shapes, input
normalisation, the RAW conventions, the metrics' names and directions, for ``isp`` and
``depth``; and what follows from those numbers alone (the input value range, the shape
contract in NHWC and NCHW). Sources: the MAI 2021 ISP report and the MAI & AIM 2022 depth
report, and the official MAI 2021 ISP baseline conventions (docs/references.md, "Reports" to
"Depth data").

This is the ground floor: it imports nothing of maikit but its errors. The data formats,
metrics, scores and models read these numbers instead of repeating them; the behaviour that
needs those packages (reading a file, the metrics accumulator, the final score) is added
above them, in :mod:`maikit.tasks`, whose task objects are the ones callers hold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import numpy as np

from maikit.errors import MaikitError


# --------------------------------------------------------------------------------------
# RAW conventions (ISP input normalisation)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawConvention:
    """How a Bayer RAW frame (HxW uint16) becomes the packed 4-channel model input.

    ``offsets`` gives, per packed channel, the (row, col) phase inside each 2x2 Bayer cell;
    ``divisor`` is what the packed values are divided by (no clipping, as officially).
    """

    name: str
    offsets: tuple[tuple[int, int], ...]
    divisor: float
    channel_names: tuple[str, ...]
    bit_depth: int = 10
    description: str = ""

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1


# MAI 2021 official baseline (PUNET repo): stack(raw[1::2,1::2], raw[0::2,1::2],
# raw[0::2,0::2], raw[1::2,0::2]) / (4*255). The names are the official ones.
MAI21 = RawConvention(
    name="mai21",
    offsets=((1, 1), (0, 1), (0, 0), (1, 0)),
    divisor=4 * 255.0,
    channel_names=("B", "Gb", "R", "Gr"),
    description="MAI 2021 official: channels (B, Gb, R, Gr), divided by 1020 (default)",
)
# MAI 2022 tools: plain RGGB order, R first, divided by 4095 or 4096.
MAI22_4095 = RawConvention(
    name="mai22-4095",
    offsets=((0, 0), (0, 1), (1, 0), (1, 1)),
    divisor=4095.0,
    channel_names=("R", "Gb", "Gr", "B"),
    description="MAI 2022: plain RGGB order (R first), divided by 4095",
)
MAI22_4096 = RawConvention(
    name="mai22-4096",
    offsets=((0, 0), (0, 1), (1, 0), (1, 1)),
    divisor=4096.0,
    channel_names=("R", "Gb", "Gr", "B"),
    description="MAI 2022: R-first order, divided by 4096",
)
RAW_CONVENTIONS: dict[str, RawConvention] = {c.name: c for c in (MAI21, MAI22_4095, MAI22_4096)}


def get_raw_convention(name: str | RawConvention) -> RawConvention:
    """The RAW convention called ``name``; MaikitError listing the conventions for an unknown name."""
    if isinstance(name, RawConvention):
        return name
    try:
        return RAW_CONVENTIONS[name]
    except KeyError:
        raise MaikitError(
            f"unknown RAW convention `{name}`; choose one of {', '.join(RAW_CONVENTIONS)}"
        ) from None


# --------------------------------------------------------------------------------------
# Metrics and tasks
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSpec:
    name: str
    higher_is_better: bool
    unit: str = ""
    title: str = ""


@dataclass(frozen=True)
class SensorRange:
    """The distances a depth dataset's sensor measures, in metres; files hold 0 (unknown) outside."""

    min_m: float
    max_m: float


LAYOUTS = ("nhwc", "nchw")


def shape_in_layout(shape_nhwc: tuple[int, ...], layout: str) -> list[int]:
    """An NHWC shape written in ``layout`` (``nhwc`` or ``nchw``)."""
    n, h, w, c = shape_nhwc
    return [n, h, w, c] if layout == "nhwc" else [n, c, h, w]


def shape_to_nhwc(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    """A 4-d shape given in ``layout``, as NHWC."""
    return tuple(shape) if layout == "nhwc" else (shape[0], shape[2], shape[3], shape[1])


@dataclass(frozen=True)
class TaskSpec:
    """Everything that defines a challenge task. Shapes are NHWC, as in the TFLite files.

    Beside the numbers it answers what follows from them alone and differs between the
    tasks (the RAW convention to use, the input value range, the output in the targets'
    units, the input/output shape contract), so callers never ask for its name. Reading
    files, metrics and scores are added above the data layer by :class:`maikit.tasks.Task`.
    """

    name: str
    title: str
    # dataset layout: ROOT/<split>/<input_dir|target_dir>/<name>.png, paired by file name
    input_dir: str
    target_dir: str
    train_splits: tuple[str, ...]
    val_splits: tuple[str, ...]
    test_splits: tuple[str, ...]
    # files as stored
    input_file_dtype: str
    input_file_channels: int  # 1 = single-channel PNG
    target_file_dtype: str
    target_file_channels: int
    # model tensors
    input_channels: int
    output_channels: int
    scale: int  # output spatial size / input spatial size
    # shapes (NHWC)
    train_input_hw: tuple[int, int]
    train_target_hw: tuple[int, int]
    latency_input_shape: tuple[int, int, int, int]
    latency_output_shape: tuple[int, int, int, int]
    full_res_input_shape: tuple[int, int, int, int]
    full_res_output_shape: tuple[int, int, int, int]
    size_multiple: int  # model input H, W must be divisible by this
    metrics: tuple[MetricSpec, ...]
    primary_metric: str
    normalisation: str
    output_semantics: str
    # typed defaults (None where the task has no such notion)
    raw_convention: RawConvention | None = None  # the default RAW convention (ISP input packing)
    sensor_range: SensorRange | None = None  # depth: what the dataset's sensor measures
    output_unit: str = ""  # unit of the model output ("" = RGB in [0, 1]; "m" = metres)
    target_file_unit: str = ""  # unit of the values in target files ("mm" for depth maps)
    probe_hw: tuple[int, int] = (64, 96)  # a small input size for quick checks of a model (before the multiple)
    model_size_unit: str = "KB"  # how leaderboards show a model file's size
    predict_suffixes: tuple[str, ...] = (".png",)  # the files `mai predict` takes from a folder
    predict_input_kind: str = "PNG"  # what they are, in messages
    masked_targets: bool = False  # target files mark unknown pixels (losses and metrics mask them)
    pooled_metrics: bool = False  # metrics can pool all pixels (`--pooled`) instead of averaging per image
    synth_options: tuple[str, ...] = ()  # the options its synthesiser takes beyond count, seed and split
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def metric(self, name: str) -> MetricSpec:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    # ---------------------------------------------------------------- input files and values
    def convention(self, convention: RawConvention | None = None) -> RawConvention | None:
        """The RAW convention to use: ``convention``, else the task's default (None without RAW input)."""
        return None

    def input_range(self, convention: RawConvention | None = None) -> tuple[float, float]:
        """The (low, high) float values a model input can hold."""
        raise NotImplementedError

    def output_to_target_units(self, y_nhwc: np.ndarray) -> np.ndarray:
        """A model output (NHWC) in the units and shape the metrics compare with target files."""
        return y_nhwc.astype(np.float32)

    def verify_peak(self, reference: np.ndarray) -> float:
        """The peak of the PSNR that compares a converted model's output with ``reference``."""
        return max(float(np.abs(reference).max()), 1e-12)

    # ---------------------------------------------------------------- the shape contract
    def output_shape(self, input_nhwc: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The NHWC output shape a model of this task gives for an NHWC input shape
        (a dynamic dimension, -1 as in a TFLite signature, stays -1)."""
        n, h, w = input_nhwc[0], input_nhwc[1], input_nhwc[2]
        return (n, h * self.scale if h >= 0 else -1, w * self.scale if w >= 0 else -1, self.output_channels)

    def io_shapes(self, input_nhwc: tuple[int, ...], layout: str = "nhwc") -> tuple[list[int], list[int]]:
        """(input shape, output shape) in ``layout`` for an NHWC input shape."""
        return shape_in_layout(tuple(input_nhwc), layout), shape_in_layout(self.output_shape(input_nhwc), layout)

    def detect_layout(self, input_shape: tuple[int, ...], file: str | os.PathLike | None = None) -> str:
        """``nhwc`` or ``nchw`` from a model's 4-d input shape; MaikitError when neither fits."""
        c = self.input_channels
        if len(input_shape) == 4 and input_shape[3] == c:
            return "nhwc"
        if len(input_shape) == 4 and input_shape[1] == c:
            return "nchw"
        raise MaikitError(f"input shape {list(input_shape)} does not fit the {self.name} task: "
                          f"expected [1, H, W, {c}] (or [1, {c}, H, W])", file)

    def check_io(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...], layout: str,
                 file: str | os.PathLike | None = None) -> None:
        """MaikitError unless ``output_shape`` is what this task's model gives for ``input_shape``
        (both in ``layout``): the one check of the NHWC/NCHW contract. A dynamic dimension
        (negative, as in a TFLite signature) on either side matches any size."""
        want = shape_in_layout(self.output_shape(shape_to_nhwc(tuple(input_shape), layout)), layout)
        fits = len(output_shape) == 4 and all(g == x or g < 0 or x < 0 for g, x in zip(output_shape, want))
        if not fits:
            raise MaikitError(f"output shape {list(output_shape)} does not fit the {self.name} task: "
                              f"expected {want} for input {list(input_shape)}", file)

    def with_input_hw(self, hw: tuple[int, int]) -> "TaskSpec":
        """This task with ``hw`` as its latency and full-resolution input size (quick checks, tests)."""
        h, w = (int(v) for v in hw)
        shape_in = (1, h, w, self.input_channels)
        shape_out = self.output_shape(shape_in)
        return replace(self, latency_input_shape=shape_in, latency_output_shape=shape_out,
                       full_res_input_shape=shape_in, full_res_output_shape=shape_out)


@dataclass(frozen=True)
class IspSpec(TaskSpec):
    """Learned ISP: packed RAW (per a :class:`RawConvention`) -> RGB in [0, 1] at twice the size."""

    def convention(self, convention: RawConvention | None = None) -> RawConvention:
        return convention if convention is not None else self.raw_convention

    def input_range(self, convention: RawConvention | None = None) -> tuple[float, float]:
        conv = self.convention(convention)
        return 0.0, conv.max_value / conv.divisor

    def verify_peak(self, reference: np.ndarray) -> float:
        return 1.0  # the output range is [0, 1]


@dataclass(frozen=True)
class DepthSpec(TaskSpec):
    """Depth estimation: RGB as 0-255 floats -> depth in metres; files store uint16 millimetres."""

    def input_range(self, convention: RawConvention | None = None) -> tuple[float, float]:
        return 0.0, 255.0

    def output_to_target_units(self, y_nhwc: np.ndarray) -> np.ndarray:
        return y_nhwc[..., 0].astype(np.float64) * DEPTH_MODEL_UNIT_TO_MM


ISP = IspSpec(
    name="isp",
    title="Learned Smartphone ISP (MAI 2021)",
    input_dir="mediatek_raw",
    target_dir="fujifilm",
    train_splits=("train",),
    val_splits=("val",),
    test_splits=("test",),
    input_file_dtype="uint16",
    input_file_channels=1,
    target_file_dtype="uint8",
    target_file_channels=3,
    input_channels=4,
    output_channels=3,
    scale=2,
    # RAW 256x256x1 -> packed 128x128x4 -> RGB 256x256x3 (ISP report §2.1)
    train_input_hw=(128, 128),
    train_target_hw=(256, 256),
    latency_input_shape=(1, 544, 960, 4),
    latency_output_shape=(1, 1088, 1920, 3),
    # full-resolution RAW 2976x3968 -> packed 1488x1984x4 (docs/references.md#isp-data)
    full_res_input_shape=(1, 1488, 1984, 4),
    full_res_output_shape=(1, 2976, 3968, 3),
    size_multiple=16,  # packed H, W (RAW H, W divisible by 32 for PUNET-style nets)
    metrics=(
        MetricSpec("psnr", True, "dB", "PSNR"),
        MetricSpec("ssim", True, "", "SSIM"),
        MetricSpec("ms_ssim", True, "", "MS-SSIM"),
    ),
    primary_metric="psnr",
    normalisation="RAW uint16 packed per RawConvention (default mai21: B,Gb,R,Gr / 1020); target uint8 / 255",
    output_semantics="RGB in [0, 1], N x 3 x 2H x 2W",
    raw_convention=MAI21,
    probe_hw=(64, 96),
    model_size_unit="KB",
    predict_suffixes=(".png",),
    predict_input_kind="RAW PNG",
    synth_options=("photos", "full_res", "patch"),
)

DEPTH = DepthSpec(
    name="depth",
    title="Single-Image Depth Estimation (MAI & AIM 2022)",
    input_dir="rgb",
    target_dir="depth",
    train_splits=("train",),
    val_splits=("val", "validation"),
    test_splits=("test",),
    input_file_dtype="uint8",
    input_file_channels=3,
    target_file_dtype="uint16",
    target_file_channels=1,
    input_channels=3,
    output_channels=1,
    scale=1,
    train_input_hw=(480, 640),
    train_target_hw=(480, 640),
    latency_input_shape=(1, 480, 640, 3),
    latency_output_shape=(1, 480, 640, 1),
    full_res_input_shape=(1, 480, 640, 3),
    full_res_output_shape=(1, 480, 640, 1),
    size_multiple=1,
    metrics=(
        MetricSpec("si_rmse", False, "", "si-RMSE"),
        MetricSpec("rmse", False, "m", "RMSE"),
        MetricSpec("log10", False, "", "LOG10"),
        MetricSpec("rel", False, "", "REL"),
    ),
    primary_metric="si_rmse",
    normalisation="RGB uint8 fed as float 0-255 (each model normalises inside its graph)",
    output_semantics="depth in metres, N x 1 x 480 x 640 (files store uint16 millimetres, 0 = unknown)",
    masked_targets=True,
    pooled_metrics=True,
    # 0.4 m: nearer than this the ZED reports nothing; 50 m: its stated far limit
    sensor_range=SensorRange(0.4, 50.0),
    output_unit="m",
    target_file_unit="mm",
    probe_hw=(96, 128),
    model_size_unit="MB",
    predict_suffixes=(".png", ".jpg", ".jpeg"),  # photos of any size
    predict_input_kind="PNG/JPEG",
)

# Depth models output metres; the official files and metrics use millimetres.
DEPTH_MODEL_UNIT_TO_MM = 1000.0

SPECS: dict[str, TaskSpec] = {spec.name: spec for spec in (ISP, DEPTH)}
TASK_NAMES = tuple(SPECS)  # ("isp", "depth")
