"""export_model: the two challenge files, export.json, verification, quantisation, layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from _fixtures import SMALL_HW, TinyDepth, TinyIsp

from maikit.errors import MaikitError
from maikit.export import TfliteRunner, export_model
from maikit.export.rewrite import rewrite_pixel_shuffles
from maikit.tasks import DEPTH, ISP


def _torch_nhwc(model, x_nhwc):
    with torch.no_grad():
        return model(torch.from_numpy(x_nhwc).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()


def test_fp32_export_record_and_files(isp_export):
    model, out, record = isp_export
    on_disk = json.loads((out / "export.json").read_text())
    assert on_disk["files"] == ["model.tflite", "model_none.tflite"]
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.tflite", "model_none.tflite"]
    assert on_disk["precision"] == "fp32" and on_disk["layout"] == "nhwc" and on_disk["task"] == "isp"
    assert on_disk["verify_psnr_db"] >= 60.0
    h, w = SMALL_HW
    assert on_disk["input_shape"] == [1, h, w, 4]
    assert on_disk["output_shape"] == [1, 2 * h, 2 * w, 3]
    assert on_disk["dynamic"] is True
    assert on_disk["none_input_shape"] == [1, -1, -1, 4]
    runner = TfliteRunner(out / "model.tflite")
    assert runner.input_shape == (1, h, w, 4) and runner.output_shape == (1, 2 * h, 2 * w, 3)


@pytest.mark.parametrize("xnnpack", [True, False], ids=["xnnpack", "builtin-kernels"])
def test_model_none_runs_at_two_sizes_like_pytorch(isp_export, xnnpack):
    """Also on LiteRT's builtin kernels (a board or delegate without XNNPACK): the pixel shuffle
    became a TRANSPOSE_CONV whose traced output shape the builtin kernel used to refuse at any
    other size ("computed_input_height != SizeOfDimension(input, 1)")."""
    model, out, record = isp_export
    assert record["dynamic_builtin_kernels"] is True
    runner = TfliteRunner(out / "model_none.tflite", xnnpack=xnnpack)
    assert runner.dynamic
    rng = np.random.default_rng(0)
    for hw in ((16, 24), (40, 20)):
        x = rng.random((1, *hw, 4), dtype=np.float32)
        y = runner.run(x)
        assert y.shape == runner.output_shape == (1, 2 * hw[0], 2 * hw[1], 3)
        np.testing.assert_allclose(y, _torch_nhwc(model, x), atol=1e-5)


def test_default_shapes_are_the_challenge_shapes():
    # the fixed file's shape comes from the task spec, not from the exporter
    assert ISP.latency_input_shape == (1, 544, 960, 4)
    assert ISP.latency_output_shape == (1, 1088, 1920, 3)


def test_int8_export_has_int8_weights_and_runs(depth_int8):
    model, out, record = depth_int8
    assert record["precision"] == "int8"
    assert record["calibration"]["source"] == "random"
    assert any("random" in w for w in record["warnings"])
    runner = TfliteRunner(out / "model.tflite")
    details = runner.interpreter.get_tensor_details()
    assert any(d["dtype"] == np.int8 and len(d["shape"]) == 4 and d["shape"][0] == 8 for d in details)  # conv filter
    x = np.random.default_rng(3).uniform(0, 255, (1, 24, 32, 3)).astype(np.float32)
    y = runner.run(x)
    ref = _torch_nhwc(model, x)
    # 8-bit activations: close to PyTorch, not exact
    assert np.abs(y - ref).max() < 0.05 * ref.max()


def test_fp16_export_stores_float16_weights(tmp_path):
    model = TinyDepth().eval()
    record = export_model(model, tmp_path, task=DEPTH, precision="fp16", input_hw=(24, 32))
    runner = TfliteRunner(tmp_path / "model.tflite")
    assert any(d["dtype"] == np.float16 for d in runner.interpreter.get_tensor_details())
    assert runner.input_dtype == np.float32
    assert record["verify_psnr_db"] > 50.0


def test_verify_psnr_on_known_arrays():
    from maikit.export.exporter import IDENTICAL_PSNR_DB, verify_psnr

    zeros = np.zeros((1, 4, 4, 3))
    assert verify_psnr(zeros, zeros + 0.1, ISP) == pytest.approx(20.0)  # MSE 0.01, peak 1
    one_off = zeros.copy()
    one_off[0, 1, 2, 0] = 1.0  # one of 48 values off by the peak: 10 log10(48)
    assert verify_psnr(zeros, one_off, ISP) == pytest.approx(10 * np.log10(48))
    metres = np.linspace(1.0, 10.0, 16).reshape(1, 4, 4, 1)
    assert verify_psnr(metres, metres + 1.0, DEPTH) == pytest.approx(20.0)  # peak: the largest depth, 10 m
    assert verify_psnr(metres, metres, DEPTH) == IDENTICAL_PSNR_DB
    assert verify_psnr(zeros, np.full_like(zeros, np.nan), ISP) == 0.0
    with pytest.raises(MaikitError, match=r"differ in shape: PyTorch \[1, 4, 4, 3\], file \[1, 4, 4, 1\]"):
        verify_psnr(zeros, np.zeros((1, 4, 4, 1)), ISP)


class _Traitor(nn.Module):
    """A model whose exported graph is not what PyTorch runs (10 % more depth while being
    exported): the converter writes a wrong file, which verification must refuse."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.c = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        y = 0.5 + 5.0 * torch.sigmoid(self.c(x) / 255.0)
        return y * 1.1 if torch.compiler.is_exporting() else y


def test_a_wrong_file_fails_verification_and_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(MaikitError, match=r"verification failed: the tflite output differs from PyTorch \(2\d\.\d dB < 60 dB\)"):
        export_model(_Traitor().eval(), out, task=DEPTH, input_hw=(24, 32))
    assert not out.exists()  # no files, no staging folder, and no empty folder left behind


def test_model_not_fitting_the_task_fails_before_conversion(tmp_path):
    with pytest.raises(MaikitError, match=r"expected \[1, 3, 128, 192\]") as e:
        export_model(nn.Conv2d(4, 3, 3, padding=1), tmp_path, task=ISP)
    assert "[1, 3, 64, 96]" in str(e.value)  # the actual shape is named too


def test_onnx_export_matches_pytorch(tmp_path):
    import onnxruntime as ort

    model = TinyIsp().eval()
    record = export_model(model, tmp_path, task=ISP, fmt="onnx", input_hw=SMALL_HW)
    assert record["files"] == ["model.onnx", "model_none.onnx"] and record["verify_psnr_db"] >= 60
    sess = ort.InferenceSession(str(tmp_path / "model_none.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).random((1, 20, 28, 4), dtype=np.float32)
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], _torch_nhwc(model, x), atol=1e-5)


def test_pixel_shuffle_rewrite_is_exact():
    model = TinyIsp().eval()
    x = torch.rand(1, 4, 10, 14)
    new, counts = rewrite_pixel_shuffles(model, x)
    assert counts == {"pixel_shuffle_as_transpose_conv": 1}
    assert not any(isinstance(m, nn.PixelShuffle) for m in new.modules())
    with torch.no_grad():
        y = new.c2(torch.tanh(new.c1(x)))
        # independent reference: the functional pixel shuffle
        assert torch.equal(new.shuffle(y), F.pixel_shuffle(y, 2))
        unshuffled = rewrite_pixel_shuffles(nn.Sequential(nn.PixelUnshuffle(2)), x)[0]
        assert torch.equal(unshuffled(x), F.pixel_unshuffle(x, 2))


def test_cli_shape_must_be_h_comma_w(tmp_path):
    from typer.testing import CliRunner

    from maikit.cli import app

    for bad in ("480", "1x480x640x3", "a,b", "0,640"):
        res = CliRunner().invoke(app, ["export", "--model", "depth/miaigo", "--out", str(tmp_path / "x"), "--shape", bad])
        assert res.exit_code == 1 and "`--shape`" in res.output and "Traceback" not in res.output, (bad, res.output)
    assert not (tmp_path / "x").exists()
    with pytest.raises(MaikitError, match="multiples of the model's size multiple 16"):
        export_model("isp/punet", tmp_path / "y", fidelity_hw=(100, 160))
    assert not (tmp_path / "y").exists()


def test_bad_arguments_are_one_line_errors(tmp_path):
    for kwargs, text in (({"precision": "int4"}, "precision"), ({"layout": "hwc"}, "layout"),
                         ({"fmt": "onnx", "precision": "int8"}, "fp32")):
        with pytest.raises(MaikitError, match=text):
            export_model(TinyIsp(), tmp_path, task=ISP, **kwargs)


class NormalisingDepth(TinyDepth):
    def forward(self, x):
        return 0.5 + 10.0 * torch.sigmoid(self.c2(torch.relu(self.c1(x / 255.0))))


def test_model_none_falls_back_to_the_full_resolution_shape(tmp_path):
    said = []
    record = export_model(NormalisingDepth().eval(), tmp_path, task=DEPTH, input_hw=(24, 32), progress=said.append)
    # at the latency file's own shape it is the latency file's graph: copied, not converted a
    # second time (a depth zoo model's conversion costs about 30 CPU seconds)
    assert (tmp_path / "model_none.tflite").read_bytes() == (tmp_path / "model.tflite").read_bytes()
    assert [m for m in said if m.startswith("converting")] == [
        "converting model.tflite at [1, 24, 32, 3]", "converting model_none with dynamic height/width (as is)"]
    assert "model_none at the full-resolution shape [1, 24, 32, 3] is model.tflite's graph: copied, not converted again" in said
    assert record["dynamic"] is False and "full-resolution" in record["note"]
    assert "Constraints violated" not in record["note"] and "Suggested fixes" not in record["note"]
    # the note says which shape was fixed and how to ask for another
    assert "fixed at 1x24x32x3" in record["note"] and "--shape H,W" in record["note"]
    assert record["none_input_shape"] == [1, 24, 32, 3]  # input_hw replaces the full-res shape too
    runner = TfliteRunner(tmp_path / "model_none.tflite")
    assert not runner.dynamic and runner.input_shape == (1, 24, 32, 3)
    assert record["verify_psnr_db"] >= 60


def test_an_int8_model_none_at_the_latency_shape_is_quantised_and_verified_once(tmp_path):
    """The fixed fidelity file is the latency file's graph: its int8 file is the latency file's
    int8 file, not a second quantisation of the same bytes (nor a second verification)."""
    said, model = [], NormalisingDepth().eval()
    record = export_model(model, tmp_path, task=DEPTH, precision="int8", input_hw=(24, 32), progress=said.append)
    assert [m for m in said if m.startswith("quantising")] == ["quantising model.tflite to int8"]
    assert [m for m in said if m.startswith("verifying")] == [
        "verifying model.tflite against PyTorch (random inputs)"]
    assert "model_none.tflite is model.tflite's graph: its int8 file and verification taken from it" in said
    fixed, none = (tmp_path / "model.tflite").read_bytes(), (tmp_path / "model_none.tflite").read_bytes()
    assert none == fixed
    assert [v["input_shape"] for v in record["verify"]["model_none.tflite"]] == [[1, 24, 32, 3]]
    assert record["verify"]["model_none.tflite"] == record["verify"]["model.tflite"]
    # the file is int8 and still close to the model (checked here, not taken from the record)
    runner = TfliteRunner(tmp_path / "model_none.tflite")
    assert any(d["dtype"] == np.int8 for d in runner.interpreter.get_tensor_details())
    x = np.random.default_rng(3).uniform(0, 255, (1, 24, 32, 3)).astype(np.float32)
    ref = _torch_nhwc(model, x)
    assert np.abs(runner.run(x) - ref).max() < 0.05 * ref.max()  # 8-bit activations: close, not exact


def test_model_none_is_fixed_at_the_fidelity_shape_asked_for(tmp_path):
    """A participant whose data is 16x24 asks for that size (`mai export --shape 16,24`)."""
    said = []
    record = export_model(NormalisingDepth().eval(), tmp_path, task=DEPTH, input_hw=(24, 32), fidelity_hw=(16, 24),
                          progress=said.append)
    assert "converting model_none at the shape asked for [1, 16, 24, 3]" in said  # another shape: its own conversion
    assert record["dynamic"] is False and "fixed at 1x16x24x3, the shape asked for" in record["note"]
    assert record["none_input_shape"] == [1, 16, 24, 3] and record["none_output_shape"] == [1, 16, 24, 1]
    assert record["input_shape"] == [1, 24, 32, 3]  # the runtime file keeps its shape
    runner = TfliteRunner(tmp_path / "model_none.tflite")
    assert runner.input_shape == (1, 16, 24, 3) and runner.output_shape == (1, 16, 24, 1)
    x = np.random.default_rng(2).random((1, 16, 24, 3), dtype=np.float32) * 255
    np.testing.assert_allclose(runner.run(x), _torch_nhwc(NormalisingDepth().eval(), x), rtol=1e-4, atol=1e-4)
    assert [v["input_shape"] for v in record["verify"]["model_none.tflite"]] == [[1, 16, 24, 3]]


def test_failed_export_leaves_no_folder_behind(tmp_path):
    # int8 with a calibration folder that holds no data: the export fails after conversion
    empty = tmp_path / "calib"
    (empty / "train").mkdir(parents=True)
    out = tmp_path / "exports" / "isp_int8"
    with pytest.raises(MaikitError):
        export_model(TinyIsp().eval(), out, task=ISP, precision="int8", calib=empty, input_hw=(16, 16))
    assert not out.exists() and not (tmp_path / "exports").exists()
    # an existing folder is left as it was (no staging folder, no partial files)
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("before")
    with pytest.raises(MaikitError):
        export_model(TinyIsp().eval(), out, task=ISP, precision="int8", calib=empty, input_hw=(16, 16))
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
