"""The reports' two challenges as files (examples/challenges/): ``mai challenge check`` passes
each where its reference data is, and each says what its report says (phases, device,
official score, Table 1's columns)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from maikit.cli import app
from maikit.server.challenge import load_challenge
from maikit.taskspec import SPECS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "challenges"
# what each report's Table 1 prints (besides team and model size) and where it timed runtimes
REPORTS = {
    "mai21-isp.yaml": ("isp", ["PSNR", "SSIM", "Runtime, ms", "Final Score"], "dimensity-1000plus", "npu"),
    "mai22-depth.yaml": ("depth", ["si-RMSE", "RMSE", "LOG10", "REL", "Runtime, ms", "Final Score"], "raspberry-pi-4", "cpu"),
}

# the input each report times (ISP §2.3: the packed RAW at half of Full HD; depth §2.3: a 480x640 photo)
TIMED_SHAPES = {"isp": (1, 544, 960, 4), "depth": (1, 480, 640, 3)}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(REPORTS)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_mai_challenge_check_passes_each_example_next_to_its_data(tmp_path, name):
    task, titles, device, target = REPORTS[name]
    folder = tmp_path / "examples" / "challenges"  # as in a checkout: data/ two levels up
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLES / name, folder / name)
    r = CliRunner().invoke(app, ["challenge", "check", str(folder / name)])
    assert r.exit_code == 1 and "does not exist" in r.stderr  # no data yet
    c = load_challenge(folder / name)
    for split in (c.data.validation, c.data.test):
        assert Path(split).is_relative_to(tmp_path / "data")
        for sub in (SPECS[task].input_dir, SPECS[task].target_dir):
            (Path(split) / sub).mkdir(parents=True)
    r = CliRunner().invoke(app, ["challenge", "check", str(folder / name)])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == f"{folder / name}: ok ({c.slug}, task {task}, phases development, validation, testing)"

    assert c.task == task and c.score == "official"
    assert [p.kind for p in c.phases] == ["development", "validation", "test"]
    assert c.phase("testing").visibility == "hidden-until-published"
    assert [col.title for col in c.leaderboard] == titles
    assert {col.key for col in c.leaderboard} <= set(SPECS[task].metric_names) | {"runtime_ms", "score"}
    assert (c.protocol.device, c.protocol.target) == (device, target)
    # the official shape: the one the platform times, stated to participants in the description
    assert SPECS[task].latency_input_shape == TIMED_SHAPES[task]
    assert "×".join(map(str, TIMED_SHAPES[task])) in c.description
    # LiteRT benchmark_model's defaults (docs/references.md#runtime)
    p = c.protocol
    assert (p.warmup_runs, p.warmup_seconds, p.min_runs, p.min_seconds, p.max_seconds) == (1, 0.5, 50, 1.0, 150.0)


def _model_fields(model, seen=None) -> set[str]:
    """Every field name of a pydantic model and of the models inside it."""
    import typing

    from pydantic import BaseModel

    seen = set() if seen is None else seen
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for arg in (info.annotation, *typing.get_args(info.annotation)):
            for inner in (arg, *typing.get_args(arg)):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                    seen.add(inner)
                    names |= _model_fields(inner, seen)
    return names


def test_the_doc_page_names_every_field_and_its_example_passes_the_check(tmp_path):
    import re

    import yaml

    from maikit.server.challenge import ChallengeDef

    doc = (ROOT / "docs" / "challenge-yaml.md").read_text()
    # the names in the first cell of every table row
    documented = {name for cell in re.findall(r"^\| ([^|]+) \|", doc, re.M) for name in re.findall(r"`([a-z_][a-z_0-9]*)`", cell)}
    assert _model_fields(ChallengeDef) - documented == set()
    example = yaml.safe_load(re.search(r"## A complete example.*?```yaml\n(.*?)```", doc, re.S).group(1))
    f = tmp_path / "my-isp.yaml"
    example["data"]["test"] = "hidden/val"
    for split in ("data/isp/val", "hidden/val"):
        for sub in ("mediatek_raw", "fujifilm"):
            (tmp_path / split / sub).mkdir(parents=True)
    f.write_text(yaml.safe_dump(example))
    r = CliRunner().invoke(app, ["challenge", "check", str(f)])
    assert r.exit_code == 0, r.stderr
