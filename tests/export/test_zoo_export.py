"""Every registered zoo model through ``export_model`` end to end (both files, fp32 verified
>= 60 dB, int8) at a second set of small sizes — opt-in (``-m slow`` / ``MAI_SLOW=1``, about
13 minutes).

The default test run already exports every zoo model with ``export_model`` and checks both
files, fp32 and int8, against PyTorch (tests/models/test_isp_zoo.py at 64×64,
tests/models/test_depth_zoo.py at the challenge shape); this sweep repeats it at 32×48 / 96×128.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from maikit.models import get_model_entry, list_models


def _small_hw(name: str) -> tuple[int, int]:
    entry = get_model_entry(name)
    m = max(entry.size_multiple, 32 if entry.task == "depth" else 1)
    base = (32, 48) if entry.task == "isp" else (96, 128)
    return tuple(-(-v // m) * m for v in base)


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_zoo_model_exports_fp32_and_int8(name, tmp_path):
    import numpy as np

    from maikit.export import TfliteRunner, export_model
    from maikit.export.calib import random_inputs
    from maikit.export.quantize import quantize_int8
    from maikit.tasks import get_task

    hw = _small_hw(name)
    record = export_model(name, tmp_path, input_hw=hw)
    assert record["verify_psnr_db"] >= 60.0
    if record["dynamic"]:  # any size, also on LiteRT's builtin kernels (no traced TRANSPOSE_CONV shape)
        from maikit.tflite.model import read_tflite

        assert record["dynamic_builtin_kernels"] is True
        sg = read_tflite(tmp_path / "model_none.tflite")["subgraphs"][0]
        assert not [op for op in sg["ops"] if op["op"] == "TRANSPOSE_CONV" and sg["tensors"][op["inputs"][0]]["constant"]]
    else:  # says which shape it fixed, and how to ask for another
        assert "is fixed at" in record["note"] and "--shape H,W" in record["note"]
    # int8 from the verified float file (the exporter's int8 path is covered by the tiny models)
    shape = tuple(record["input_shape"])
    q = quantize_int8((tmp_path / "model.tflite").read_bytes(), random_inputs(get_task(record["task"]), shape, 2))
    (tmp_path / "int8.tflite").write_bytes(q)
    y = TfliteRunner(tmp_path / "int8.tflite").run(random_inputs(get_task(record["task"]), shape, 1, seed=5)[0])
    assert y.shape == tuple(record["output_shape"]) and np.isfinite(y).all()


def test_cli_export_at_the_challenge_shape(tmp_path):
    import json

    from maikit.cli import app

    res = CliRunner().invoke(app, ["export", "--model", "isp/smallnet", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["input_shape"] == [1, 544, 960, 4] and record["output_shape"] == [1, 1088, 1920, 3]
    assert record["model"] == "isp/smallnet" and record["verify_psnr_db"] >= 60
    stages = res.stderr.splitlines()  # one line per stage when stderr is not a terminal
    assert any(x.startswith("converting model.tflite") for x in stages) and any(x.startswith("verifying") for x in stages)
    res = CliRunner().invoke(app, ["export", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--model" in res.output
