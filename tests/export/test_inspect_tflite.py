"""inspect_tflite / `mai inspect`: histogram, params, MACs, findings, and bad files."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from _fixtures import SMALL_HW
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.export import convert_to_tflite, inspect_tflite
from maikit.tasks import DEPTH, ISP


class ManualShuffleWhere(nn.Module):
    """A PReLU written with torch.where and a pixel shuffle written as a rank-6 reshape."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 12, 3, padding=1)
        self.alpha = nn.Parameter(torch.full((1, 12, 1, 1), 0.25))

    def forward(self, x):
        y = self.conv(x)
        y = torch.where(y > 0, y, self.alpha * y)
        n, c, h, w = y.shape
        return y.reshape(n, 3, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, 3, 2 * h, 2 * w)


@pytest.fixture(scope="module")
def odd_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("odd") / "odd.tflite"
    convert_to_tflite(ManualShuffleWhere().eval(), torch.rand(1, 4, 8, 12), path)
    return path


def _interpreter_ops(path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # no delegate (it would replace nodes by DELEGATE) and no allocation (dynamic files)
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    counts = {}
    for d in it._get_ops_details():
        counts[d["op_name"]] = counts.get(d["op_name"], 0) + 1
    return counts


def test_op_histogram_matches_the_interpreter(isp_export, depth_int8, odd_file):
    for path in (isp_export[1] / "model.tflite", isp_export[1] / "model_none.tflite", depth_int8[1] / "model.tflite", odd_file):
        assert inspect_tflite(path)["ops"] == _interpreter_ops(path)


def test_io_params_and_macs_of_a_conv_model(isp_export):
    model, out, _ = isp_export
    report = inspect_tflite(out / "model.tflite")
    h, w = SMALL_HW
    assert report["inputs"] == [{"name": report["inputs"][0]["name"], "shape": [1, h, w, 4], "dtype": "float32"}]
    assert report["outputs"][0]["shape"] == [1, 2 * h, 2 * w, 3]
    assert report["params"] == sum(p.numel() for p in model.parameters())
    # same-padded 3x3 convs: H*W*Cout*Cin*9 each
    expected = sum(h * w * c.out_channels * c.in_channels * 9 for c in (model.c1, model.c2))
    assert report["macs"] == expected


def test_dynamic_file_reports_minus_one_and_macs_at_a_shape(isp_export, depth_int8):
    report = inspect_tflite(isp_export[1] / "model_none.tflite")
    assert report["dynamic"] and report["inputs"][0]["shape"] == [1, -1, -1, 4] and report["macs"] is None
    assert any(f["target"] == "gpu" and f["op"] == "INPUT" and "dynamic" in f["reason"] for f in report["findings"])
    model = depth_int8[0]
    report = inspect_tflite(depth_int8[1] / "model_none.tflite", input_shape=(1, 16, 20, 3))
    assert report["macs"] == sum(16 * 20 * c.out_channels * c.in_channels * 9 for c in (model.c1, model.c2))


def test_int8_io_reports_quantisation(depth_int8):
    report = inspect_tflite(depth_int8[1] / "model.tflite", targets=("npu",))
    q = report["inputs"][0]["quantization"]
    assert report["inputs"][0]["dtype"] == "int8" and q["scale"][0] > 0
    assert not any(f["op"] == "MODEL" for f in report["findings"])  # quantised: no float-model warning


def test_rank6_shuffle_and_select_findings(odd_file):
    report = inspect_tflite(odd_file, targets=("gpu", "npu", "cpu"))
    assert any(len(t["shape"]) == 6 for t in report["rank_gt4_tensors"])
    gpu = [f for f in report["findings"] if f["target"] == "gpu"]
    assert any(f["op"] in ("RESHAPE", "TRANSPOSE") and "rank-6" in f["reason"] for f in gpu)
    assert any(f["op"] == "SELECT" and isinstance(f["node"], int) for f in gpu)
    # NNAPI has SELECT; the CPU runs everything builtin
    assert not any(f["op"] == "SELECT" for f in report["findings"] if f["target"] != "gpu")
    assert not any(f["target"] == "cpu" for f in report["findings"])


def test_pixel_shuffle_findings_default_and_gpu_friendly(isp_export, isp_export_gpu, odd_file):
    def shuffle_findings(path):
        return [f for f in inspect_tflite(path, targets=("gpu",))["findings"] if "pixel shuffle" in f["reason"]]

    # a shuffle the exporter cannot turn into DEPTH_TO_SPACE (a SELECT between it and its conv)
    assert shuffle_findings(odd_file)
    # the default export: one DEPTH_TO_SPACE, which GPU delegates run
    ops = inspect_tflite(isp_export[1] / "model.tflite")["ops"]
    assert ops.get("DEPTH_TO_SPACE") == 1 and not {"RESHAPE", "TRANSPOSE"} & set(ops), ops
    assert not shuffle_findings(isp_export[1] / "model.tflite")
    # --gpu-friendly: a TRANSPOSE_CONV, in both files
    for name in ("model.tflite", "model_none.tflite"):
        assert not shuffle_findings(isp_export_gpu[1] / name)
    ops = inspect_tflite(isp_export_gpu[1] / "model.tflite")["ops"]
    assert "TRANSPOSE_CONV" in ops and "RESHAPE" not in ops
    assert isp_export[2]["verify_psnr_db"] >= 60 and isp_export_gpu[2]["verify_psnr_db"] >= 60


class ClampedIsp(nn.Module):
    """conv -> PixelShuffle -> clamp01: the output end of the zoo's ISP models."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.c = nn.Conv2d(4, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        from maikit.models.blocks import clamp01

        return clamp01(2.0 * self.shuffle(self.c(x)) + 0.5)


class RawClamp(nn.Module):
    def forward(self, x):
        return torch.clamp(2.0 * x - 0.5, 0.0, 1.0)


def test_output_clamp_finding_and_its_relu6_form(tmp_path):
    from maikit.export import export_model

    def gpu_errors(path):
        return [f for f in inspect_tflite(path, targets=("gpu",))["findings"] if f["severity"] == "error"]

    # a clamp written with torch: RELU_0_TO_1, which GPU delegates of the challenges' era reject
    raw = convert_to_tflite(RawClamp().eval(), torch.rand(1, 3, 8, 8), tmp_path / "raw.tflite")
    assert "RELU_0_TO_1" in inspect_tflite(raw)["ops"]
    assert any(f["op"] == "RELU_0_TO_1" for f in gpu_errors(raw))
    # the zoo's clamp01 exports as relu6(6x)/6 by default, and also under --gpu-friendly
    plain = export_model(ClampedIsp().eval(), tmp_path / "plain", task=ISP, input_hw=SMALL_HW)
    for name in ("model.tflite", "model_none.tflite"):
        assert gpu_errors(tmp_path / "plain" / name) == []
        assert "RELU_0_TO_1" not in inspect_tflite(tmp_path / "plain" / name)["ops"]
    gpu = export_model(ClampedIsp().eval(), tmp_path / "gpu", task=ISP, input_hw=SMALL_HW, gpu_friendly=True)
    for name in ("model.tflite", "model_none.tflite"):
        assert gpu_errors(tmp_path / "gpu" / name) == []
        assert gpu["rewrites"][name]["clamp01_as_relu6"] == 1
    assert "RELU_0_TO_1" not in inspect_tflite(tmp_path / "gpu" / "model.tflite")["ops"]
    assert gpu["verify_psnr_db"] >= 60 and plain["verify_psnr_db"] >= 60


class NearestDepth(nn.Module):
    """pool -> conv -> positive depth -> nearest resize back: the output end of aiia_hit/tencent/miaigo."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.c = nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        from maikit.models.blocks import resize_nearest

        z = self.c(torch.nn.functional.avg_pool2d(x / 255.0, 4))
        return resize_nearest(torch.relu(z) + 0.5, tuple(x.shape[-2:]))


def test_nearest_resize_gathers_by_default_and_is_one_resize_op_for_gpus(tmp_path):
    from maikit.export import export_model

    def gpu_errors(path):
        return [f for f in inspect_tflite(path, targets=("gpu",))["findings"] if f["severity"] == "error"]

    plain = export_model(NearestDepth().eval(), tmp_path / "plain", task=DEPTH, input_hw=(48, 64))
    ops = inspect_tflite(tmp_path / "plain" / "model.tflite")["ops"]
    assert "GATHER_ND" in ops and "RESIZE_NEAREST_NEIGHBOR" not in ops
    assert any(f["op"] == "GATHER_ND" for f in gpu_errors(tmp_path / "plain" / "model.tflite"))
    gpu = export_model(NearestDepth().eval(), tmp_path / "gpu", task=DEPTH, input_hw=(48, 64), gpu_friendly=True)
    ops = inspect_tflite(tmp_path / "gpu" / "model.tflite")["ops"]
    assert ops.get("RESIZE_NEAREST_NEIGHBOR") == 1 and "GATHER_ND" not in ops
    assert gpu_errors(tmp_path / "gpu" / "model.tflite") == []
    assert gpu["rewrites"]["model.tflite"]["resize_nearest_op"] == 1
    assert gpu["verify_psnr_db"] >= 60 and plain["verify_psnr_db"] >= 60


@pytest.mark.parametrize("content", [b"\x00\x01garbage" * 10, "truncate"])
def test_bad_files_are_one_line_errors(tmp_path, isp_export, content):
    path = tmp_path / "bad.tflite"
    if content == "truncate":
        data = (isp_export[1] / "model.tflite").read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        path.write_bytes(content)
    with pytest.raises(MaikitError, match="bad.tflite"):
        inspect_tflite(path)
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "bad.tflite" in lines[0] and "Traceback" not in result.output


def test_cli_json(isp_export):
    result = CliRunner().invoke(app, ["inspect", str(isp_export[1] / "model.tflite"), "--target", "gpu", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("size_bytes", "inputs", "outputs", "ops", "macs", "params", "findings"):
        assert key in report
    assert {f["target"] for f in report["findings"]} <= {"gpu"}
