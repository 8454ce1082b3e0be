"""Data-parallel training: two CPU processes under torchrun with the gloo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_two_gloo_processes_average_the_gradients(isp_data, tmp_path):
    """Two processes with one sample each apply the gradient of one process with both samples:
    DistributedSampler gives rank r every second index of the epoch's permutation, so ranks 0
    and 1 see the first two samples that a single process with batch 2 sees, and the mean
    loss over two samples has the mean of their gradients."""
    from _ddp_step import one_step_grads

    helper = Path(__file__).with_name("_ddp_step.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           str(helper), str(isp_data), str(tmp_path / "ddp"), "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(helper.parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}
    (tmp_path / "ddp").mkdir()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / "ddp" / f"grads-{r}.pt") for r in (0, 1)]
    single = torch.load(one_step_grads(str(isp_data), str(tmp_path / "single"), 2))
    assert single.keys() == ranks[0].keys() == ranks[1].keys()
    assert all(single[k].abs().sum() > 0 for k in single)
    for grads in ranks:
        for k in single:
            torch.testing.assert_close(grads[k], single[k], rtol=1e-4, atol=1e-7, msg=k)
