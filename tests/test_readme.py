"""The README's command block ("Using `mai`") runs as written, on a tiny synthetic set.

The block is read from README.md, not copied here. Each ``mai ...`` line runs in order in
one working folder (later lines use what earlier ones wrote) as ``python -m maikit ...``;
the only changes are smaller numbers: ``--count`` (pairs to synthesise) and ``--minutes``
(training budget), listed in ``SMALLER``. Lines that read the user's own files (a phone's
RAW photos, stereo pairs, a DNG: paths no earlier line writes) are listed in ``OWN_FILES``
and checked only for being a known command. The depth lines (three trainings and a predict
at 480x640, a depth export, the depth metrics on that predict) and ``mai demo`` (as
``--quick``) take minutes of CPU: they run with MAI_SLOW=1, otherwise only their ``--help``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALLER = (
    (re.compile(r"(synth isp .*--count )\d+"), r"\g<1>6"),
    (re.compile(r"(synth depth .*--count )\d+"), r"\g<1>4"),
    (re.compile(r"(--minutes )[\d.]+"), r"\g<1>0.02"),
)
OWN_FILES = ("data align", "data from-stereo", "isp develop")  # inputs are the user's own photos/files
SLOW = ("train --task depth", "export --model depth/", "predict runs/unet", "metrics depth", "demo")
NOISE = ("Failed to load", "absl::InitializeLog", "Created TensorFlow Lite XNNPACK delegate")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using `mai`", 1)[1]
    block = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        if not line.startswith("mai "):
            continue  # comments, blank lines and continued comments
        commands.append(re.split(r"\s{2,}#", line, maxsplit=1)[0].strip())
    return commands


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("MAI_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "maikit", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_readme_block_is_found():
    commands = readme_commands()
    assert len(commands) >= 20
    assert commands[0].startswith("mai data synth isp") and any(c.startswith("mai export ") for c in commands)


def test_readme_commands_run_as_written(tmp_path):
    slow = os.environ.get("MAI_SLOW") == "1"
    ran = []
    for command in readme_commands():
        line = command
        for pattern, repl in SMALLER:
            line = pattern.sub(repl, line)
        argv = shlex.split(line)[1:]
        own = any(line.startswith(f"mai {c} ") for c in OWN_FILES)
        if own or (not slow and any(line.startswith(f"mai {c}") for c in SLOW)):
            words = argv[:2] if argv[0] in ("data", "isp", "models", "metrics", "score") else argv[:1]
            res = _run([*words, "--help"], tmp_path)  # the command exists as written
            assert res.returncode == 0, (command, res.stderr)
            continue
        if argv[0] == "demo":
            argv.append("--quick")
        res = _run(argv, tmp_path)
        assert res.returncode == 0, f"`{command}` (run as `mai {' '.join(argv)}`) exited {res.returncode}:\n{res.stderr[-3000:]}"
        assert not [n for n in NOISE if n in res.stderr], (command, res.stderr[-2000:])
        ran.append(argv[0])
    assert {"data", "models", "train", "predict", "export", "inspect", "bench", "eval", "metrics", "score"} <= set(ran)
    assert (tmp_path / "sub" / "model.tflite").is_file() and any((tmp_path / "pred").glob("*.png"))
    if slow:
        assert (tmp_path / "sub_gpu" / "model.tflite").is_file() and any((tmp_path / "pred_depth").glob("*.png"))
