"""The challenge definition file: defaults and one clear error per bad field (no server)."""

from __future__ import annotations

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
    good.write_text(GOOD)
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
