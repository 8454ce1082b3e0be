"""The task objects: typed defaults and the behaviour callers ask for instead of the task's name."""

from __future__ import annotations

import numpy as np
import pytest

from maikit.errors import MaikitError
from maikit.io import write_png
from maikit.tasks import DEPTH, ISP, MAI21, MAI22_4095, SensorRange, get_task


def test_typed_defaults():
    assert ISP.raw_convention is MAI21 and ISP.convention() is MAI21 and ISP.convention(MAI22_4095) is MAI22_4095
    assert DEPTH.raw_convention is None and DEPTH.convention() is None
    assert DEPTH.sensor_range == SensorRange(0.4, 50.0) and ISP.sensor_range is None
    assert (DEPTH.output_unit, DEPTH.target_file_unit) == ("m", "mm")
    # input ranges: packed RAW of 10-bit values over the convention's divisor; RGB 0-255
    assert ISP.input_range() == (0.0, 1023 / 1020) and ISP.input_range(MAI22_4095) == (0.0, 1023 / 4095)
    assert DEPTH.input_range() == (0.0, 255.0)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_shape_contract_in_both_layouts(layout):
    # the challenge's latency shapes (MAI 2021 ISP: 544x960 packed -> 1088x1920 RGB)
    io = ISP.io_shapes(ISP.latency_input_shape, layout)
    want = ([1, 544, 960, 4], [1, 1088, 1920, 3]) if layout == "nhwc" else ([1, 4, 544, 960], [1, 3, 1088, 1920])
    assert io == want
    ISP.check_io(*io, layout)
    assert ISP.detect_layout(io[0]) == layout
    d_in, d_out = DEPTH.io_shapes((1, 480, 640, 3), layout)
    DEPTH.check_io(d_in, d_out, layout)
    with pytest.raises(MaikitError, match="does not fit the isp task"):
        ISP.check_io(io[0], d_out, layout, "m.tflite")
    # a dynamic signature (-1 for H and W) fits; a wrong channel count does not
    dyn_in, dyn_out = ISP.io_shapes((1, -1, -1, 4), layout)
    assert dyn_out == ([1, -1, -1, 3] if layout == "nhwc" else [1, 3, -1, -1])
    ISP.check_io(dyn_in, dyn_out, layout)
    with pytest.raises(MaikitError):
        ISP.check_io(dyn_in, DEPTH.io_shapes((1, -1, -1, 3), layout)[1], layout)


def test_detect_layout_refuses_other_channel_counts():
    with pytest.raises(MaikitError, match=r"m.tflite: input shape \[1, 8, 8, 5\] does not fit the depth task"):
        DEPTH.detect_layout((1, 8, 8, 5), "m.tflite")


def test_read_input_checks_the_files_against_the_task(tmp_path):
    raw = np.arange(16, dtype=np.uint16).reshape(4, 4) * 60  # values up to 900 (10-bit)
    write_png(tmp_path / "raw.png", raw)
    packed = ISP.read_input(tmp_path / "raw.png")
    # MAI 2021 packing: channels (B, Gb, R, Gr) at offsets (1,1), (0,1), (0,0), (1,0), / 1020
    np.testing.assert_array_equal(packed[..., 2], raw[0::2, 0::2] / np.float32(1020.0))
    np.testing.assert_array_equal(packed[..., 0], raw[1::2, 1::2] / np.float32(1020.0))
    with pytest.raises(MaikitError, match="raw.png"):
        DEPTH.read_input(tmp_path / "raw.png")  # a RAW Bayer frame is no RGB photo
    rgb = np.full((4, 6, 3), 7, np.uint8)
    write_png(tmp_path / "rgb.png", rgb)
    assert DEPTH.read_input(tmp_path / "rgb.png").dtype == np.float32
    with pytest.raises(MaikitError, match="rgb.png"):
        ISP.read_input(tmp_path / "rgb.png")


def test_metrics_and_score_come_from_the_task():
    isp_metrics = ISP.new_metrics()
    gt = np.random.default_rng(0).random((1, 176, 176, 3)).astype(np.float32)
    isp_metrics.update(gt, gt)
    assert isp_metrics.compute()["images"] == 1
    assert get_task("isp") is ISP and get_task(DEPTH) is DEPTH
    from maikit import scoring

    assert ISP.score(23.0, 60.0) == scoring.isp_score(23.0, 60.0)
    assert DEPTH.score(0.3, 50.0) == scoring.depth_score(0.3, 50.0)


def test_task_owns_its_dataset_builders_and_metric_options(tmp_path):
    """Callers ask the task (synthesis, the offline real sample, masking, pooling, score), not its name."""
    from maikit import scoring
    from maikit.errors import MaikitError
    from maikit.tasks import DEPTH, ISP

    assert (ISP.masked_targets, DEPTH.masked_targets) == (False, True)
    assert (ISP.pooled_metrics, DEPTH.pooled_metrics) == (False, True)
    assert ISP.synth_options == ("photos", "full_res", "patch") and DEPTH.synth_options == ()
    # the published rows (docs/references.md): dh_isp 23.2 dB at 61 ms -> 25.98; TCL 0.2773 at 46 ms -> 298
    assert round(scoring.score(ISP, 23.2, 61), 2) == 25.98
    assert round(scoring.score(DEPTH, 0.2773, 46)) == 298
    with pytest.raises(MaikitError, match="no real `isp` sample"):
        ISP.sample_real(tmp_path / "x")
    with pytest.raises(MaikitError, match="--patch"):
        DEPTH.synthesize(tmp_path / "d", 1, patch=64)
    assert not (tmp_path / "x").exists() and not (tmp_path / "d").exists()


def test_each_specification_has_its_task_object_accumulator_and_formula():
    """The numbers live in maikit.taskspec (below data, metrics and scoring); the task objects
    carry the same numbers with the behaviour attached, and every task has each piece."""
    from dataclasses import fields

    from maikit import scoring, taskspec
    from maikit.metrics import DepthMetrics, IspMetrics
    from maikit.tasks import TASKS

    assert tuple(TASKS) == tuple(taskspec.SPECS) == taskspec.TASK_NAMES
    for spec in taskspec.SPECS.values():
        task = get_task(spec)  # a specification becomes its task object
        assert task is TASKS[spec.name] and task is not spec
        assert all(getattr(task, f.name) == getattr(spec, f.name) for f in fields(spec))
        assert task.input_range() == spec.input_range()
        assert scoring.score(spec, 0.5, 100.0) == task.score(0.5, 100.0)  # a bare spec scores too
    assert type(ISP.new_metrics()) is IspMetrics and type(DEPTH.new_metrics()) is DepthMetrics
    assert DEPTH.new_metrics(pooled=True).pooled and DEPTH.new_metrics().unit == DEPTH.target_file_unit == "mm"
    with pytest.raises(MaikitError, match="`pooled` does not apply to the isp metrics"):
        ISP.new_metrics(pooled=True)
    # with_input_hw keeps the behaviour (a quick-check copy still reads files)
    assert type(ISP.with_input_hw((32, 48))).read_input is type(ISP).read_input
