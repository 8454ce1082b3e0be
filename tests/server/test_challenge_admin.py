"""An organiser changes a challenge on a live server (SQLite and PostgreSQL): a phase dropped
from the file is removed unless it has submissions, reference data stays under the server's
reference folder, ``mai challenge check --server`` reports what the server would refuse and
device tags no worker serves, and a development phase takes no uploads."""

from __future__ import annotations

import json

import httpx
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from maikit.cli import app
from platform_testing import challenge_def, wait_for


def _phases(live, slug: str) -> list[str]:
    r = live.get(f"/api/challenges/{slug}")
    assert r.status_code == 200, r.text
    return [p["slug"] for p in r.json()["phases"]]


def test_a_phase_dropped_from_the_file_is_removed_or_refused(live, tiny_models, isp_split):
    """Re-creating a challenge from a file without one of its phases was a 500 (KeyError)."""
    d = challenge_def("d1", isp_split)
    live.create_challenge(d)
    without_testing = dict(d, phases=[d["phases"][0]])
    r = live.post("/api/challenges", "organiser", json=without_testing)
    assert r.status_code == 201, r.text
    assert [p["slug"] for p in r.json()["phases"]] == ["validation"] == _phases(live, "d1")
    assert [p["slug"] for c in live.get("/api/challenges").json() for p in c["phases"] if c["slug"] == "d1"] == ["validation"]
    assert live.get("/api/challenges/d1/phases/testing/leaderboard").status_code == 404

    # a phase with a submission stays, and says why
    up = live.upload("d1", tiny_models["isp"] / "model.tflite")
    assert up.status_code == 201, up.text
    live.create_challenge(d)  # testing back
    r = live.post("/api/challenges", "organiser", json=dict(d, phases=[d["phases"][1]]))
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == ("phases: phase 'validation' is not in the definition but has 1 submission; a phase "
                                  "with submissions cannot be removed (keep it; its dates can close it)")
    assert _phases(live, "d1") == ["validation", "testing"]  # nothing changed
    assert live.get(f"/api/submissions/{up.json()['id']}", "alice").status_code == 200


def test_reference_data_must_lie_under_the_reference_folder(live, isp_split, tmp_path):
    """``data: ../../../../etc`` was accepted."""
    from maikit.server.db.models import Challenge

    root = tmp_path.parent  # pytest's base folder: the tests' reference folder (tests/conftest.py)
    for path in ("../../../../etc", "/etc", str(root / "x" / ".." / ".." / "etc")):
        d = challenge_def("d2", isp_split)
        d["data"]["test"] = path
        r = live.post("/api/challenges", "organiser", json=d)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"] == (f"data.test: {path} is outside the server's reference data folder {root} "
                                      "(the MAI_SERVER_REFERENCE_ROOT setting)")
    assert live.get("/api/challenges/d2").status_code == 404  # nothing saved
    # a relative path is taken under the folder; an absolute one inside it is kept
    d = challenge_def("d2", isp_split)
    d["data"] = {"validation": str(isp_split), "test": isp_split.relative_to(root).as_posix()}
    live.create_challenge(d)
    with live.platform.db.read() as s:
        stored = s.execute(select(Challenge.definition).where(Challenge.slug == "d2")).scalar_one()["data"]
    assert stored == {"validation": str(isp_split), "test": str(isp_split)}


def _check(live, path, *args, who: str = "organiser"):
    r = CliRunner().invoke(app, ["challenge", "check", str(path), "--server", live.url, "--token", live.tokens[who], *args])
    return r.exit_code, r.stdout, r.stderr


def test_mai_challenge_check_on_the_server(live, tiny_models, isp_split, tmp_path):
    d = challenge_def("d3", isp_split)
    d["protocol"]["device"] = "pixel-9"
    f = tmp_path / "d3.yaml"
    f.write_text(yaml.safe_dump(d))
    # no worker serves pixel-9 yet: a warning, not a problem
    code, out, err = _check(live, f)
    assert code == 0, err
    assert err.splitlines() == [f"{f}: warning: protocol.device: no registered worker serves device 'pixel-9': "
                                "runtime jobs wait until one connects (mai worker --device pixel-9)"]
    assert out.strip() == f"{f}: ok on {live.url} (d3, task isp, phases validation, testing)"
    live.worker(name="phone", roles=["runtime"], device_tag="pixel-9")
    live.worker(name="cpu-fidelity", roles=["fidelity"], device_tag="litert-cpu")
    code, out, err = _check(live, f, "--json")
    assert code == 0 and json.loads(out) == {"file": str(f), "ok": True, "problems": [], "warnings": []}
    # a fidelity-only worker does not serve a runtime device
    d["protocol"]["device"] = "litert-cpu"
    f.write_text(yaml.safe_dump(d))
    assert "no registered worker serves device 'litert-cpu'" in _check(live, f)[2]

    # what the server would refuse: data outside its folder or missing there, a phase with submissions dropped
    live.create_challenge(d)
    assert live.upload("d3", tiny_models["isp"] / "model.tflite").status_code == 201
    d2 = dict(d, phases=[d["phases"][1]], data={"validation": "/etc", "test": str(isp_split.parent / "missing")})
    f.write_text(yaml.safe_dump(d2))
    code, out, err = _check(live, f, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["problems"][0].startswith("data.validation: /etc is outside the server's reference data folder")
    assert report["problems"][1] == f"data.test: {isp_split.parent / 'missing'} does not exist"
    assert report["problems"][2].startswith("phases: phase 'validation' is not in the definition but has 1 submission")
    assert report["warnings"] == ["protocol.device: no registered worker serves device 'litert-cpu': runtime jobs "
                                  "wait until one connects (mai worker --device litert-cpu)"]
    lines = _check(live, f)[2].splitlines()  # one line each, on stderr
    assert len(lines) == 4 and lines[-1].startswith(f"{f}: warning: protocol.device: ")
    # organisers only
    code, _out, err = _check(live, f, who="alice")
    assert code == 1 and err.strip() == "error: organisers only (HTTP 403)"


def test_a_development_phase_takes_no_uploads(live, tiny_models, isp_split):
    d = challenge_def("d4", isp_split)
    d["phases"].insert(0, dict(d["phases"][0], slug="development", kind="development", title="Development"))
    live.create_challenge(d)
    r = live.upload("d4", tiny_models["isp"] / "model.tflite", phase="development")
    assert r.status_code == 403
    assert r.json()["detail"] == ("phase 'development' of 'd4' takes no uploads: it is for training and timing models "
                                  "locally (mai eval, mai bench); submit to a validation phase")
    assert live.get("/api/challenges/d4").json()["phases"][0]["kind"] == "development"


def test_a_phase_removed_while_an_upload_runs_its_preflight(live, tiny_models, isp_split):
    """The removal counted the phase's submissions, then deleted it: an upload whose preflight
    was running meanwhile then stored a submission of a phase that was gone (PostgreSQL: a
    foreign-key error, a 500). Now one of the two wins and the other says why."""
    import threading

    model = (tiny_models["isp"] / "model.tflite").read_bytes()
    outcomes = set()
    for i in range(6):
        d = challenge_def(f"race{i}", isp_split)
        live.create_challenge(d)
        answers = {}

        def upload():
            with httpx.Client(base_url=live.url, timeout=120) as http:
                answers["upload"] = http.post(f"/api/challenges/race{i}/phases/testing/submissions",
                                              headers=live.auth("alice"),
                                              files={"file": ("m.tflite", model, "application/octet-stream")})

        t = threading.Thread(target=upload)
        t.start()
        # the upload is in its preflight (a child process): drop its phase now
        wait_for(lambda: live.platform.preflight_slots._value < live.platform.preflight_slots._initial_value
                 or not t.is_alive(), 60, 0.005, "the preflight to start")
        answers["remove"] = live.post("/api/challenges", "organiser", json=dict(d, phases=[d["phases"][0]]))
        t.join()
        up, rm = answers["upload"], answers["remove"]
        assert up.status_code != 500 and rm.status_code != 500, (up.text, rm.text)
        if rm.status_code == 201:
            assert up.status_code == 404 and up.json()["detail"] == (f"challenge 'race{i}' has no phase 'testing' "
                                                                     "(its phases: validation)")
        else:
            assert rm.status_code == 409 and up.status_code == 201
        outcomes.add(rm.status_code)
    assert 201 in outcomes  # the removal won at least once: the race was run


def test_an_upload_whose_phase_went_away_says_which_phases_there_are(live, isp_split):
    """The upload's last check of its phase (made under the lock it holds until it commits):
    a phase removed meanwhile is named with the phases there are, one that another phase of
    the same name replaced asks for the upload again (it said "has no phase 'testing'" of a
    phase that was there)."""
    import pytest

    from maikit.server.db.models import Phase
    from maikit.server.errors import Conflict, NotFound
    from maikit.server.services.submissions import _phase_still_there

    d = challenge_def("gone1", isp_split)
    live.create_challenge(d)
    with live.platform.db.write() as s, s.begin():
        ids = dict(s.execute(select(Phase.slug, Phase.id).where(Phase.challenge.has(slug="gone1"))).all())
        _phase_still_there(s, ids["testing"], "gone1", "testing")  # there: nothing to say
        stale = max(s.scalars(select(Phase.id))) + 1000  # the id the upload read, now gone
        with pytest.raises(NotFound, match=r"^challenge 'gone1' has no phase 'exam' \(its phases: validation, testing\)$"):
            _phase_still_there(s, stale, "gone1", "exam")
        with pytest.raises(Conflict, match=r"^phase 'testing' of challenge 'gone1' was replaced while the file was "
                                           r"checked; upload it again$"):
            _phase_still_there(s, stale, "gone1", "testing")
