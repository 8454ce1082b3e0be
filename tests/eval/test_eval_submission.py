"""evaluate_model on tiny splits: metrics equal maikit.metrics on PyTorch outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _fixtures import TinyDepth, TinyIsp
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.eval import evaluate_model
from maikit.export import export_model
from maikit.io import write_png
from maikit.metrics import DepthMetrics, IspMetrics
from maikit.scoring import score
from maikit.tasks import DEPTH, ISP, MAI21

BENCH = {"runs": 2, "min_seconds": 0.0, "warmup_seconds": 0.0}


@pytest.fixture(scope="module")
def isp_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("isp_eval")
    rng = np.random.default_rng(0)
    split = root / "val"
    for i in range(2):
        # 176 px: the smallest even size with room for 5-scale MS-SSIM (161 px)
        write_png(split / "mediatek_raw" / f"{i}.png", rng.integers(0, 1024, (176, 176), dtype=np.uint16))
        write_png(split / "fujifilm" / f"{i}.png", rng.integers(0, 256, (176, 176, 3), dtype=np.uint8))
    model = TinyIsp().eval()
    out = root / "sub"
    export_model(model, out, task=ISP, input_hw=(16, 16))
    return model, split, out


@pytest.fixture(scope="module")
def depth_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("depth_eval")
    rng = np.random.default_rng(1)
    split = root / "val"
    for i in range(2):
        write_png(split / "rgb" / f"{i}.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
        depth = rng.integers(400, 6000, (24, 32), dtype=np.uint16)
        depth[:3] = 0  # unknown pixels
        write_png(split / "depth" / f"{i}.png", depth)
    model = TinyDepth().eval()
    out = root / "sub"
    export_model(model, out, task=DEPTH, input_hw=(24, 32))
    return model, split, out


def test_isp_eval_matches_metrics_on_pytorch_outputs(isp_case):
    from maikit.data.isp import pack_raw, read_raw
    from maikit.io import read_png

    model, split, out = isp_case
    result = evaluate_model(out, ISP, split, bench_kwargs=BENCH)
    ref = IspMetrics()
    for i in range(2):
        packed = pack_raw(read_raw(split / "mediatek_raw" / f"{i}.png"), MAI21)
        with torch.no_grad():
            y = model(torch.from_numpy(packed).permute(2, 0, 1)[None]).permute(0, 2, 3, 1).numpy()
        ref.update(y, read_png(split / "fujifilm" / f"{i}.png")[None].astype(np.float32) / 255.0)
    expected = ref.compute()
    for key in ("psnr", "ssim", "ms_ssim"):
        assert result[key] == pytest.approx(expected[key], abs=1e-4)
    assert result["images"] == 2
    assert result["score"] == pytest.approx(score(ISP, result["psnr"], result["runtime_ms"]))
    assert result["fidelity_file"].endswith("model_none.tflite") and result["runtime_file"].endswith("model.tflite")


def test_depth_eval_matches_metrics_on_pytorch_outputs(depth_case):
    from maikit.io import read_png

    model, split, out = depth_case
    result = evaluate_model(out, DEPTH, split, bench_kwargs=BENCH)
    ref = DepthMetrics(unit="mm")
    for i in range(2):
        rgb = read_png(split / "rgb" / f"{i}.png").astype(np.float32)
        with torch.no_grad():
            y = model(torch.from_numpy(rgb).permute(2, 0, 1)[None])[:, 0].numpy()
        ref.update(y * 1000.0, read_png(split / "depth" / f"{i}.png")[None])
    expected = ref.compute()
    for key in ("si_rmse", "rmse", "log10", "rel"):
        assert result[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-6)
    assert result["score"] == pytest.approx(score(DEPTH, result["si_rmse"], result["runtime_ms"]))


def test_task_mismatch_names_expected_and_actual_shapes(depth_case, isp_case, tmp_path):
    import shutil

    _, _, depth_out = depth_case
    _, isp_split, _ = isp_case
    with pytest.raises(MaikitError, match="exported for task `depth`"):
        evaluate_model(depth_out / "model.tflite", ISP, isp_split, bench_kwargs=BENCH)
    lone = tmp_path / "lone.tflite"  # no export.json: the shapes must tell
    shutil.copy(depth_out / "model.tflite", lone)
    with pytest.raises(MaikitError) as e:
        evaluate_model(lone, ISP, isp_split, bench_kwargs=BENCH)
    msg = str(e.value)
    assert "lone.tflite" in msg and "[1, 24, 32, 3]" in msg and "[1, H, W, 4]" in msg


def test_fixed_shape_file_with_other_data_size_is_a_clear_error(isp_case):
    _, split, out = isp_case
    with pytest.raises(MaikitError, match=r"fixed input \[1, 16, 16, 4\].*\[1, 88, 88, 4\]"):
        evaluate_model(out / "model.tflite", ISP, split, bench_kwargs=BENCH)


def test_cli_json_and_one_line_error(depth_case, isp_case):
    import json

    _, split, out = depth_case
    res = CliRunner().invoke(app, ["eval", str(out), "--task", "depth", "--data", str(split), "--runs", "2", "--min-seconds", "0", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(("si_rmse", "rmse", "log10", "rel", "runtime_ms", "score", "images")) <= set(data)
    res = CliRunner().invoke(app, ["eval", str(out), "--task", "isp", "--data", str(isp_case[1])])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert len([line for line in res.output.strip().splitlines() if line.strip()]) == 1


def test_run_folder_is_exported_then_evaluated(isp_case, tmp_path):
    import json

    from maikit.models import create_model
    from maikit.train.checkpoint import save_checkpoint

    _, split, _ = isp_case
    model = create_model("isp/smallnet").eval()
    run = tmp_path / "run"
    save_checkpoint(run / "best.pt", {"model_name": "isp/smallnet", "task": "isp", "model": model.state_dict(),
                                      "config": {"data": str(split.parent), "convention": "mai22-4095"},
                                      "data": {"raw_convention": "mai22-4095"}})
    result = evaluate_model(run, ISP, split, bench_kwargs=BENCH)
    record = json.loads((run / "export" / "export.json").read_text())
    assert record["convention"] == "mai22-4095" and result["convention"] == "mai22-4095"
    assert record["source"]["checkpoint"].endswith("best.pt") and record["input_shape"] == [1, 544, 960, 4]
    assert result["runtime_shape"] == [1, 544, 960, 4] and result["images"] == 2
