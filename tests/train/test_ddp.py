"""Data-parallel training: two CPU processes under torchrun with the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch


@pytest.mark.slow
@pytest.mark.parametrize("precision", [[], ["--amp", "bf16", "--channels-last"]], ids=["fp32", "bf16-nhwc"])
def test_two_process_gloo_training(isp_data, tmp_path, precision):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "maikit", "train", "--task", "isp", "--model", "smallnet", "--data", str(isp_data),
           "--out", str(out), "--recipe", "fast", "--steps", "3", "--batch", "2", "--patch", "16",
           "--device", "cpu", "--val-every", "3", "--json", *precision]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    start = proc.stdout.index("{")
    summary = json.loads(proc.stdout[start:])  # only rank 0 prints
    assert summary["step"] == 3 and summary["stopped"] == "completed"
    assert proc.stdout.count('"run_dir"') == 1
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["step"] == 3 and not any(k.startswith("module.") for k in ckpt["model"])
    assert ckpt["config"]["amp"] == ("bf16" if precision else "auto")
    assert all(v.dtype == torch.float32 for v in ckpt["model"].values() if v.is_floating_point())
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "config.json", "curves.png", "last.pt",
                                                     "metrics.csv", "summary.json"]
