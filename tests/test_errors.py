"""Errors a user can hit: one line naming the file or option and the reason, and the exit status.

Exit status (README, "Exit status"): 1 = the input has problems (a file, folder or value
given), 2 = the command could not run (the command line cannot be parsed, or a failure that
is not the input's). Every command gets this from the ``mai`` group, not from each module.
"""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError, describe, first_line

runner = CliRunner()


def _one_line_error(res, code: int = 1) -> str:
    assert res.exit_code == code, (res.exit_code, res.output)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.output
    return lines[0]


def test_first_line_of_an_exception():
    assert first_line(RuntimeError("\n  XNNPack failed to prepare\nnode 39\n")) == "XNNPack failed to prepare"
    assert first_line(ValueError()) == "ValueError"
    assert first_line(ValueError(), default="") == ""
    assert first_line(MaikitError("bad header", "a.png")) == "a.png: bad header"


def test_describe_says_what_is_wrong_in_words():
    assert describe(FileExistsError(17, "File exists", "out")) == "is in the way: a file exists where a folder is needed"
    assert describe(NotADirectoryError(20, "Not a directory", "a/b")).startswith("is not a folder")
    assert describe(ValueError()) == "invalid value"
    assert describe(ValueError("bad size 3")) == "bad size 3"
    import json

    with pytest.raises(json.JSONDecodeError) as e:
        json.loads("{")
    assert describe(e.value).startswith("not valid JSON (")


# -- every numeric option is range-checked by the CLI, naming the option --------------------
@pytest.mark.parametrize("argv,option", [
    (["train", "--task", "isp", "--model", "smallnet", "--data", "d", "--out", "o", "--minutes", "-1"], "--minutes"),
    (["train", "--task", "isp", "--model", "smallnet", "--data", "d", "--out", "o", "--steps", "0"], "--steps"),
    (["train", "--task", "isp", "--model", "smallnet", "--data", "d", "--out", "o", "--lr", "nan"], "--lr"),
    (["predict", "run", "--input", "i", "--out", "o", "--overlap", "-3"], "--overlap"),
    (["predict", "run", "--input", "i", "--out", "o", "--tile", "-1"], "--tile"),
    (["bench", "m.tflite", "--top", "-2"], "--top"),
    (["bench", "m.tflite", "--threads", "0"], "--threads"),
    (["bench", "m.tflite", "--max-seconds", "0"], "--max-seconds"),
    (["score", "isp", "--psnr", "-5", "--runtime-ms", "50"], "--psnr"),
    (["score", "isp", "--psnr", "23", "--runtime-ms", "inf"], "--runtime-ms"),
    (["eval", "sub", "--task", "isp", "--data", "val", "--threads", "0"], "--threads"),
    (["eval", "sub", "--task", "isp", "--data", "val", "--min-seconds", "-1"], "--min-seconds"),
    (["export", "--model", "isp/smallnet", "--out", "o", "--calib-samples", "0"], "--calib-samples"),
    (["data", "synth", "isp", "--out", "o", "--val-fraction", "1.5"], "--val-fraction"),
    (["data", "synth", "isp", "--out", "o", "--count", "0"], "--count"),
    (["demo", "--isp-minutes", "-2"], "--isp-minutes"),
])
def test_numeric_options_out_of_range(tmp_path, monkeypatch, argv, option):
    monkeypatch.chdir(tmp_path)  # the relative `--out o` and inputs resolve here
    res = runner.invoke(app, argv)
    line = _one_line_error(res, 1)
    assert f"'{option}'" in line
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_overlap_message_is_sane():
    line = _one_line_error(runner.invoke(app, ["predict", "run", "--input", "i", "--out", "o", "--overlap", "-10"]))
    assert "--overlap" in line and "-19" not in line
    import torch

    from maikit.train.predict import tiled_apply

    with pytest.raises(MaikitError, match=r"`--overlap` must be 0 or more, got -10"):
        tiled_apply(lambda t: t, torch.zeros(1, 4, 64, 64), tile=32, overlap=-10)


# -- the command line's form: exit 2 ---------------------------------------------------------
@pytest.mark.parametrize("argv,needle", [
    (["bench", "m.tflite", "--bogus"], "--bogus"),
    (["--bogus"], "--bogus"),
    (["score", "isp", "--psnr", "20"], "--runtime-ms"),
    (["export", "--out", "o"], "--model"),
    (["nope"], "nope"),
])
def test_command_line_errors_exit_2(argv, needle):
    assert needle in _one_line_error(runner.invoke(app, argv), 2)


# -- inspect --shape ---------------------------------------------------------------------
@pytest.mark.parametrize("shape,words", [
    ("1x-64x64x4", "positive integers"),
    ("64x64", "needs 4 dimensions"),
    ("1x64x64x3", "does not fit the model's input 1x16x16x4"),
    ("1x16x16x3", "dimension 3 is fixed at 4"),
    ("1xAx16x4", "must look like"),
])
def test_inspect_shape_is_checked(tiny_isp_tflite, shape, words):
    line = _one_line_error(runner.invoke(app, ["inspect", str(tiny_isp_tflite), "--shape", shape]))
    assert "--shape" in line and words in line


def test_inspect_shape_that_fits(tiny_isp_tflite):
    res = runner.invoke(app, ["inspect", str(tiny_isp_tflite), "--shape", "1x16x16x4", "--json"])
    assert res.exit_code == 0, res.output


# -- wrong file or reason named ------------------------------------------------------------
def test_export_of_a_missing_path_says_so(tmp_path):
    line = _one_line_error(runner.invoke(app, ["export", str(tmp_path / "nope_run"), "--out", str(tmp_path / "o")]))
    assert "nope_run" in line and "does not exist" in line and "unknown model" not in line
    line = _one_line_error(runner.invoke(app, ["export", "isp/nope", "--out", str(tmp_path / "o")]))
    assert "unknown model `isp/nope`" in line and "isp/smallnet" in line  # looks like a model name: list them
    assert not (tmp_path / "o").exists()


def test_calibration_folder_is_checked_before_converting(tmp_path):
    out = tmp_path / "o"
    missing = tmp_path / "no_calib"
    line = _one_line_error(runner.invoke(app, ["export", "--model", "isp/smallnet", "--out", str(out),
                                               "--precision", "int8", "--calib", str(missing)]))
    assert "calibration data" in line and str(missing) in line and "model.tflite" not in line
    empty = tmp_path / "empty"
    (empty / "mediatek_raw").mkdir(parents=True)
    (empty / "fujifilm").mkdir()
    line = _one_line_error(runner.invoke(app, ["export", "--model", "isp/smallnet", "--out", str(out),
                                               "--precision", "int8", "--calib", str(empty)]))
    assert "calibration data" in line and "empty" in line
    assert not out.exists()  # refused before any conversion or output folder


def test_os_errors_in_words(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    line = _one_line_error(runner.invoke(app, ["data", "synth", "depth", "--out", str(blocker / "sub"), "--count", "2"]))
    assert str(blocker) in line and "not a folder" in line and "NotADirectoryError" not in line
    from maikit.data.synth_isp import synth_isp

    data = tmp_path / "isp"
    synth_isp(data, 4, seed=0, val_fraction=0.5, patch=32)
    line = _one_line_error(runner.invoke(app, ["train", "--task", "isp", "--model", "smallnet", "--data", str(data),
                                               "--out", str(blocker), "--recipe", "fast", "--steps", "1"]))
    assert str(blocker) in line and "a file exists where a folder is needed" in line and "FileExistsError" not in line


def test_unexpected_failures_exit_2_in_words(monkeypatch):
    import maikit.cli.score as score_cli

    def boom(*a, **k):
        raise ValueError()

    monkeypatch.setattr(score_cli, "isp_score", boom)
    line = _one_line_error(runner.invoke(app, ["score", "isp", "--psnr", "20", "--runtime-ms", "50"]), 2)
    assert "invalid value" in line and "MAI_DEBUG" in line


# -- written files honour the umask ----------------------------------------------------------
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_written_files_honour_the_umask(tmp_path, mask):
    from maikit.io import write_json, write_png

    old = os.umask(mask)
    try:
        png = write_png(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
        js = write_json(tmp_path / "b.json", {"a": 1})
    finally:
        os.umask(old)
    for path in (png, js):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_every_numeric_option_has_a_range():
    """Walks every command: an int or float option without min/max or a checking callback
    would accept -1 silently (new command modules are held to this too)."""
    import typing

    import typer

    unchecked, numeric = [], []

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])
        for p in cmd.params:
            ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
            kinds = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
            if kinds[0] in (int, float):
                numeric.append(p.name)
            if kinds[0] in (int, float) and p.min is None and p.max is None and p.callback is None:
                unchecked.append(f"{' '.join(path)} {p.opts[0] if p.opts else p.name}")

    walk(typer.main.get_command(app), ["mai"])
    assert len(numeric) > 40  # the walk sees the options' types
    assert unchecked == []


# -- Ctrl-C: exit 130 ------------------------------------------------------------------------
def test_ctrl_c_exits_130_with_one_line(tmp_path):
    """A real SIGINT to a real `mai` process in the middle of its work."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "depth"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    env.pop("MAI_DEBUG", None)
    # SIGINT as a terminal's Ctrl-C delivers it: a runner started in the background (a CI
    # script, `cmd &`) may have SIGINT ignored, which the child would inherit
    proc = subprocess.Popen([sys.executable, "-m", "maikit", "data", "synth", "depth", "--out", str(out), "--count", "5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while not any(out.glob("*/rgb/*.png")):  # at work: its first scene is written
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines[-1] == "error: interrupted" and "Traceback" not in stderr, stderr
