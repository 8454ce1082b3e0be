"""The TFLite core, runtime, eval, metrics and scoring work without PyTorch.

Each check runs in a fresh Python process: the tiny model and its data are made here (with
PyTorch), then the child inspects, benchmarks and evaluates them and reports which modules
it imported. A second child hides PyTorch and friends altogether, as on a core-only install,
and runs the `mai` commands that must work there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def depth_case(tmp_path_factory):
    import torch
    import torch.nn as nn

    from maikit.export.tflite import convert_to_tflite
    from maikit.io import write_png

    root = tmp_path_factory.mktemp("torch_free")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1), nn.Softplus()).eval()
    path = convert_to_tflite(model, torch.rand(1, 3, 24, 32) * 255, root / "model.tflite")
    rng = np.random.default_rng(0)
    split = root / "val"
    for i in range(2):
        write_png(split / "rgb" / f"{i}.png", rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
        write_png(split / "depth" / f"{i}.png", rng.integers(500, 5000, (24, 32), dtype=np.uint16))
    return path, split


def _child(code: str, *, env_extra: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_inspect_bench_and_eval_never_import_torch(depth_case):
    path, split = depth_case
    res = _child(f"""
        import json, sys
        import maikit.tflite, maikit.runtime, maikit.eval, maikit.metrics, maikit.scoring
        from maikit.export.inspect import inspect_tflite
        from maikit.runtime import benchmark_tflite
        from maikit.eval import evaluate_model
        from maikit.tasks import DEPTH

        report = inspect_tflite({str(path)!r})
        bench = benchmark_tflite({str(path)!r}, runs=2, min_seconds=0, warmup_seconds=0)
        ev = evaluate_model({str(path)!r}, DEPTH, {str(split)!r},
                            bench_kwargs={{"runs": 2, "min_seconds": 0, "warmup_seconds": 0}})
        print(json.dumps({{"ops": report["ops"], "runs": bench["runs"], "images": ev["images"],
                          "si_rmse": ev["si_rmse"], "score": ev["score"],
                          "heavy": sorted(m for m in ("torch", "litert_torch", "onnxruntime") if m in sys.modules)}}))
    """)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []  # 'torch' not in sys.modules at the end
    assert out["ops"]["CONV_2D"] == 2 and out["runs"] >= 2 and out["images"] == 2
    assert out["si_rmse"] > 0 and out["score"] > 0


_HIDE = """
    import importlib.abc, sys

    class _Missing(importlib.abc.MetaPathFinder):
        # what a core-only install looks like: these packages are simply not there
        HIDDEN = {"torch", "litert_torch", "ai_edge_quantizer", "onnx", "onnxruntime", "onnxscript", "torchvision"}

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in self.HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Missing())
"""


def test_cli_on_a_core_install(depth_case, tmp_path):
    path, split = depth_case
    res = _child(_HIDE + f"""
    import json, sys
    from typer.testing import CliRunner
    from maikit.cli import app

    runner = CliRunner()
    out = {{}}
    for name, args in {{
        "inspect": ["inspect", {str(path)!r}, "--json"],
        "bench": ["bench", {str(path)!r}, "--runs", "2", "--min-seconds", "0", "--warmup-seconds", "0", "--json"],
        "eval": ["eval", {str(path)!r}, "--task", "depth", "--data", {str(split)!r}, "--runs", "2", "--min-seconds", "0", "--json"],
        "score": ["score", "depth", "--si-rmse", "0.3", "--runtime-ms", "100"],
        "metrics": ["metrics", "depth", "--pred", {str(split / "depth")!r}, "--gt", {str(split / "depth")!r}, "--json"],
        "models": ["models", "list"],
        "export": ["export", "depth/tcl", "--out", {str(tmp_path / "x")!r}],
    }}.items():
        r = runner.invoke(app, args)
        out[name] = {{"code": r.exit_code, "output": r.output, "exc": repr(r.exception) if r.exception and not isinstance(r.exception, SystemExit) else None}}
    out["torch"] = "torch" in sys.modules
    print(json.dumps(out))
    """)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["torch"] is False
    for name in ("inspect", "bench", "eval", "score", "metrics"):
        assert out[name]["code"] == 0 and out[name]["exc"] is None, (name, out[name])
    for name in ("models", "export"):
        r = out[name]
        assert r["code"] == 2 and r["exc"] is None, (name, r)
        lines = [ln for ln in r["output"].splitlines() if ln.strip()]
        assert len(lines) == 1 and "needs the full install" in lines[0] and "maikit[full]" in lines[0], r["output"]
