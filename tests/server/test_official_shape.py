"""Every runtime is timed at one shape (issue 24 item 1), on SQLite and PostgreSQL: the phase's
``protocol.input_shape``, by default the task's official latency shape (the ISP report times
every model at 1x544x960x4). A fixed runtime file of another shape is refused at preflight for free, naming
both shapes; a file with dynamic height/width is resized to it and its output there is
checked; the shape timed is stored with the result and shown on the submission page."""

from __future__ import annotations

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from maikit.cli import app
from platform_testing import challenge_def, web_sign_in

OFFICIAL_ISP = [1, 544, 960, 4]  # the ISP report's latency input (docs/references.md#runtime)


@pytest.fixture(scope="module")
def shape_models(tmp_path_factory):
    """A fixed 1x88x88x4 ISP file, and a dynamic ISP-like file whose output has the input's size
    (no 2x upsampling: a wrong output only a resized run can show)."""
    import torch
    import torch.nn as nn

    from maikit.export import export_model
    from maikit.export.tflite import convert_to_tflite
    from maikit.tasks import ISP

    class TinyIsp(nn.Module):
        def __init__(self, out: int = 12, shuffle: bool = True):
            super().__init__()
            torch.manual_seed(0)
            self.c1 = nn.Conv2d(4, out, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2) if shuffle else nn.Identity()

        def forward(self, x):
            return torch.sigmoid(self.shuffle(self.c1(x)))

    root = tmp_path_factory.mktemp("shape_models")
    export_model(TinyIsp().eval(), root / "fixed88", task=ISP, input_hw=(88, 88))
    wrong = root / "wrong_output.tflite"
    convert_to_tflite(TinyIsp(out=3, shuffle=False).eval(), torch.rand(1, 4, 16, 16), wrong, dynamic_hw=True)
    return {"fixed88": root / "fixed88" / "model.tflite", "wrong": wrong}


def _quota(live, slug: str) -> dict:
    return live.get(f"/api/challenges/{slug}/phases/validation/quota", "alice").json()


def test_the_default_shape_is_the_official_one(live, tiny_models, isp_split, shape_models):
    d = challenge_def("os1", isp_split)
    del d["protocol"]["input_shape"]  # the default
    live.create_challenge(d)
    r = live.upload("os1", shape_models["fixed88"])
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "[1, 88, 88, 4]" in detail and str(OFFICIAL_ISP) in detail, detail
    assert _quota(live, "os1")["used_today"] == 0  # refused for free
    live.worker(name="w")
    dynamic = tiny_models["isp"] / "model_none.tflite"
    r = live.upload("os1", dynamic, fidelity=dynamic)
    assert r.status_code == 201, r.text
    sub = live.wait_done(r.json()["id"])
    assert sub["status"] == "Finished", sub
    assert sub["runtime_shape"] == OFFICIAL_ISP  # the dynamic file was resized to the official shape


def test_a_phase_shape_resizes_dynamic_files_and_checks_their_output(live, tiny_models, isp_split, shape_models):
    from maikit.server.services.users import create_user, issue_user_token

    d = challenge_def("os2", isp_split)
    d["protocol"]["input_shape"] = [1, 24, 32, 4]
    live.create_challenge(d)
    p = live.platform
    with p.db.write() as s, s.begin():
        u = create_user(s, username="carol", role="participant", password="carol-pass-1", team=None, now=p.now())
        live.tokens["carol"] = issue_user_token(s, u, p.now())
    r = live.upload("os2", tiny_models["isp"] / "model.tflite", who="carol")  # fixed at 16x16
    assert r.status_code == 422 and "[1, 16, 16, 4]" in r.text and "[1, 24, 32, 4]" in r.text, r.text
    live.worker(name="w")
    dynamic = tiny_models["isp"] / "model_none.tflite"
    r = live.upload("os2", dynamic, who="carol", fidelity=dynamic)
    assert r.status_code == 201, r.text
    sub = live.wait_done(r.json()["id"], "carol")
    assert sub["status"] == "Finished" and sub["runtime_shape"] == [1, 24, 32, 4], sub
    with httpx.Client(base_url=live.url, timeout=60) as web:
        web_sign_in(web, "carol", "carol-pass-1")
        page = web.get(f"/submissions/{sub['id']}").text
    assert 'id="timed-shape">1x24x32x4<' in page
    # a dynamic file whose output at the timed shape is not the task's fails, naming both shapes
    r = live.upload("os2", shape_models["wrong"], who="carol", fidelity=dynamic)
    assert r.status_code == 201, r.text  # its signature ([1, -1, -1, 3]) cannot say it
    bad = live.wait_done(r.json()["id"], "carol")
    assert bad["status"] == "Failed" and bad["reason"].startswith("runtime:"), bad
    assert "[1, 24, 32, 3]" in bad["reason"] and "[1, 48, 64, 3]" in bad["reason"], bad["reason"]


@pytest.mark.parametrize("shape, ok", [([1, 32, 48, 4], True), ([1, 32, 48, 3], False), ([32, 48, 4], False),
                                       ([2, 32, 48, 4], False), ([1, 0, 48, 4], False)])
def test_challenge_check_tests_the_input_shape_against_the_task(isp_split, tmp_path, shape, ok):
    d = challenge_def("os3", isp_split)
    d["protocol"]["input_shape"] = shape
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(d))
    r = CliRunner().invoke(app, ["challenge", "check", str(f)])
    assert (r.exit_code == 0) == ok, r.stdout + r.stderr
    if not ok:
        assert "protocol.input_shape" in r.stdout + r.stderr and str(shape) in r.stdout + r.stderr
