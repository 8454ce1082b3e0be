"""What ``mai`` loads to start, and what it lets through to the terminal.

Timing is measured by benchmarks/cli_startup.py (figures in benchmarks/RESULTS.md); these
tests check the cause: the commands that do not need PyTorch never import it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from maikit.cli import app

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("torch", "litert_torch", "matplotlib", "ai_edge_quantizer", "onnxruntime")


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("MAI_DEBUG", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_help_and_score_import_no_heavy_library():
    code = f"""
import json, sys
from maikit.cli import app
for argv in (["--help"], ["train", "--help"], ["models", "--help"], ["score", "isp", "--psnr", "23.2", "--runtime-ms", "61"],
             ["score", "--paper", "depth", "--json"]):
    try:
        app(argv)
    except SystemExit as e:
        assert e.code in (0, None), (argv, e.code)
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)
"""
    res = _python(code)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stderr.strip().splitlines()[-1]) == []


def test_native_noise_stays_off_the_terminal():
    res = _python("""
import os
from maikit.cli._common import err_console, quiet_libraries
with quiet_libraries():
    os.write(2, b"Failed to load /x/_C_mxfp8.so\\n")
    err_console.print("converting model.tflite")
err_console.print("after")
""")
    assert res.returncode == 0
    assert "Failed to load" not in res.stderr
    assert "converting model.tflite" in res.stderr and "after" in res.stderr


def test_train_json_keeps_progress_on_stderr(tmp_path):
    from maikit.data.synth_isp import synth_isp

    data = tmp_path / "isp"
    synth_isp(data, 4, seed=0, val_fraction=0.5, patch=32)
    res = CliRunner().invoke(app, ["train", "--task", "isp", "--model", "smallnet", "--data", str(data),
                                   "--out", str(tmp_path / "run"), "--recipe", "fast", "--steps", "2", "--batch", "2",
                                   "--patch", "16", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["step"] == 2  # stdout: JSON only
    assert "isp/smallnet" in res.stderr and "2/2" in res.stderr  # the progress bar, on stderr
