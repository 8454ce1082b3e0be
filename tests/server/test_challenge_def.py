"""The challenge definition file: defaults and one clear error per bad field (no server)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from maikit.cli import app
from maikit.errors import MaikitError
from maikit.server.challenge import parse_challenge, problems_of

GOOD = """
slug: mai-isp
title: Learned smartphone ISP
task: isp
data: {validation: val, test: /srv/hidden/test}
phases:
  - {slug: validation, kind: validation, start: "2021-03-01T00:00:00+00:00", end: "2021-03-21T23:59:59Z"}
  - {slug: testing, kind: test, start: "2021-03-22T00:00:00+02:00", end: "2021-03-29T00:00:00+02:00"}
"""


def test_defaults_follow_the_reports(tmp_path):
    c = parse_challenge(yaml.safe_load(GOOD), "c.yaml", base_dir=tmp_path)
    assert [col.key for col in c.leaderboard] == ["psnr", "ssim", "ms_ssim", "runtime_ms", "score"]
    assert c.phase("validation").visibility == "public" and c.phase("testing").visibility == "hidden-until-published"
    assert c.protocol.min_runs == 50 and c.protocol.min_seconds == 1.0 and c.protocol.statistic == "avg"
    assert c.data.validation == str(tmp_path / "val") and c.data.test == "/srv/hidden/test"
    assert c.phase("testing").start.utcoffset().total_seconds() == 7200


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["phases"][0].update(start="2021-03-01T00:00:00"), "phases[0].start: Value error, needs a time zone"),
    (lambda d: d.update(task="denoise"), "task: Input should be 'isp' or 'depth'"),
    (lambda d: d["phases"][1].update(end="2021-03-01T00:00:00Z"), "phases[1]: Value error, end (2021-03-01T00:00:00+00:00) is not after start"),
    (lambda d: d["phases"].append(dict(d["phases"][0])), "(top level): Value error, phase slugs must be unique, repeated: validation"),
    (lambda d: d["phases"][0].update(max_submissions_per_day=-1), "phases[0].max_submissions_per_day: Input should be greater than or equal to 0"),
    (lambda d: d.update(protocol={"threads": 2, "warmpu_runs": 3}), "protocol.warmpu_runs: Extra inputs are not permitted"),
    (lambda d: d["phases"][0].update(ranking="median"), "phases[0].ranking: Input should be 'best', 'last' or 'selected'"),
])
def test_each_bad_field_is_named(edit, message):
    d = yaml.safe_load(GOOD)
    edit(d)
    assert problems_of(d)[0].startswith(message)
    with pytest.raises(MaikitError, match="^c.yaml: "):
        parse_challenge(d, "c.yaml")


def test_mai_challenge_check(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    _split(tmp_path / "val")
    good.write_text(GOOD.replace("/srv/hidden/test", str(_split(tmp_path / "hidden"))))
    d = yaml.safe_load(GOOD)
    d["phases"][0]["start"] = "yesterday"
    d["slug"] = "Bad Slug"
    bad.write_text(yaml.safe_dump(d))
    r = CliRunner().invoke(app, ["challenge", "check", str(good)])
    assert r.exit_code == 0 and "ok (mai-isp, task isp, phases validation, testing)" in r.output
    r = CliRunner().invoke(app, ["challenge", "check", str(bad)])
    assert r.exit_code == 1
    lines = r.output.strip().splitlines()
    assert lines[0].startswith(f"{bad}: slug: String should match pattern")
    assert lines[1].startswith(f"{bad}: phases[0].start: Input should be a valid datetime")
    (tmp_path / "broken.yaml").write_text("slug: [unclosed")
    r = CliRunner().invoke(app, ["challenge", "check", str(tmp_path / "broken.yaml")])
    assert r.exit_code == 1 and "not valid YAML" in r.output


def test_pareto_front_matches_the_pairwise_definition():
    import random

    from maikit.server.services.leaderboards import pareto_front

    rng = random.Random(0)
    for _ in range(50):
        pts = [None if rng.random() < 0.1 else (rng.choice([1.0, 2.0, 3.0, 4.0]), rng.choice([10.0, 20.0, 30.0]))
               for _ in range(rng.randint(1, 12))]

        def dominated(i):
            a = pts[i]
            return any(b is not None and b[0] >= a[0] and b[1] <= a[1] and (b[0] > a[0] or b[1] < a[1])
                       for j, b in enumerate(pts) if j != i)

        assert pareto_front(pts) == [p is not None and not dominated(i) for i, p in enumerate(pts)]


def test_a_bad_drift_setting_is_one_clear_error(isp_split):
    from maikit.errors import MaikitError
    from maikit.server.challenge import parse_challenge

    from platform_testing import challenge_def

    d = challenge_def("dev5", isp_split)
    d["protocol"]["drift"] = {"tolerance": -0.1}
    with pytest.raises(MaikitError, match=r"protocol\.drift\.tolerance"):
        parse_challenge(d)


def _check(tmp_path, d: dict | str, *args, name: str = "c.yaml"):
    """``mai challenge check`` on ``d`` written to ``tmp_path/name``: (exit code, stdout, stderr)."""
    f = tmp_path / name
    f.write_text(d if isinstance(d, str) else yaml.safe_dump(d))
    r = CliRunner().invoke(app, ["challenge", "check", str(f), *args])
    return r.exit_code, r.stdout, r.stderr


def _split(root, task: str = "isp"):
    """An (empty) reference split folder with the task's input and target folders."""
    from maikit.taskspec import SPECS

    for sub in (SPECS[task].input_dir, SPECS[task].target_dir):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


@pytest.mark.parametrize("key, words", [("psnrr", "'psnrr' is not a column of task isp"),
                                        ("si_rmse", "'si_rmse' is not a column of task isp")])
def test_check_refuses_a_leaderboard_column_the_task_does_not_have(tmp_path, key, words):
    d = yaml.safe_load(GOOD)
    d["data"] = {}
    d["leaderboard"] = [{"key": "psnr", "title": "PSNR"}, {"key": key, "title": "X"}]
    code, out, err = _check(tmp_path, d)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"{tmp_path / 'c.yaml'}: leaderboard[1].key: {words} "
                                "(its columns: psnr, ssim, ms_ssim, runtime_ms, cpu_ms, score)"]


def test_check_refuses_a_daily_limit_above_the_total(tmp_path):
    d = yaml.safe_load(GOOD)
    d["data"] = {}
    d["phases"][1].update(max_submissions_per_day=10, max_submissions=5)
    code, _out, err = _check(tmp_path, d)
    assert code == 1
    assert err.splitlines() == [f"{tmp_path / 'c.yaml'}: phases[1].max_submissions_per_day: 10 per day is above "
                                "the phase's total max_submissions (5)"]


def test_check_resolves_data_paths_next_to_the_file_and_refuses_missing_ones(tmp_path, monkeypatch):
    d = yaml.safe_load(GOOD)
    d["data"] = {"validation": "data/val", "test": "data/test"}
    folder = tmp_path / "challenges"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)  # relative paths mean next to the file, not in the working folder
    _split(folder / "data" / "val")
    code, _out, err = _check(folder, d)
    assert code == 1
    assert err.splitlines() == [f"{folder / 'c.yaml'}: data.test: {folder / 'data' / 'test'} does not exist"]
    (folder / "data" / "test").mkdir()
    code, _out, err = _check(folder, d)
    assert code == 1
    assert err.splitlines() == [f"{folder / 'c.yaml'}: data.test: {folder / 'data' / 'test'} has no mediatek_raw/ "
                                "folder (a reference split holds mediatek_raw/ and fujifilm/)"]
    _split(folder / "data" / "test")
    code, out, err = _check(folder, d)
    assert (code, err) == (0, "") and "ok (mai-isp" in out


def test_check_names_a_bad_date_in_one_line_and_json(tmp_path):
    """A month 13 used to stop the YAML reader with a bare ValueError (exit 2)."""
    text = GOOD.replace('start: "2021-03-22T00:00:00+02:00"', "start: 2021-13-22T00:00:00+02:00")
    assert "2021-13-22" in text
    code, out, err = _check(tmp_path, text)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"{tmp_path / 'c.yaml'}: phases[1].start: ") and "month" in err
    code, out, err = _check(tmp_path, text, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["problems"][0].startswith("phases[1].start: ")
    (tmp_path / "broken.yaml").write_text("slug: [unclosed")
    r = CliRunner().invoke(app, ["challenge", "check", str(tmp_path / "broken.yaml"), "--json"])
    assert r.exit_code == 1 and json.loads(r.stdout)["problems"][0].startswith("not valid YAML")


def test_check_shows_the_slug_pattern_as_it_is(tmp_path):
    """Rich used to read ``[a-z0-9]`` in the message as markup and drop it."""
    d = yaml.safe_load(GOOD)
    d["slug"] = "Bad Slug"
    code, _out, err = _check(tmp_path, d)
    assert code == 1
    assert "String should match pattern '^[a-z0-9][a-z0-9-]{0,62}$'" in err


@pytest.mark.parametrize("task, convention, words", [
    ("isp", "mai23", "convention: 'mai23' is not a RAW convention (mai21, mai22-4095, mai22-4096)"),
    ("depth", "mai21", "convention: task depth has no RAW input; leave it out"),
])
def test_check_refuses_a_raw_convention_the_task_does_not_have(tmp_path, task, convention, words):
    """An unknown convention used to pass the check and fail every fidelity job."""
    d = yaml.safe_load(GOOD)
    d.update(data={}, task=task, convention=convention)
    d.pop("leaderboard", None)
    code, _out, err = _check(tmp_path, d)
    assert code == 1 and err.splitlines() == [f"{tmp_path / 'c.yaml'}: {words}"]
    d["convention"] = "mai22-4095" if task == "isp" else None
    assert _check(tmp_path, d)[0] == 0
