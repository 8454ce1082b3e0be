"""Nothing a participant reads names the hidden test data or carries a hidden phase's
measurement (issue 24 item 2, issue 31 item 6), on SQLite and PostgreSQL: every text of a
failed test-phase submission (the API, the pages, the CLI, the stage logs) against what the
organiser reads for the same submission; the runtime log of a finished one before and after
publication."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from maikit.cli import app
from platform_testing import challenge_def, web_sign_in


def _participant(live, name: str = "carol", password: str = "carol-pass-1") -> None:
    from maikit.server.services.users import create_user, issue_user_token

    p = live.platform
    with p.db.write() as s, s.begin():
        u = create_user(s, username=name, role="participant", password=password, team=None, now=p.now())
        live.tokens[name] = issue_user_token(s, u, p.now())


def _mai(live, who: str, *args) -> tuple[int, str]:
    r = CliRunner().invoke(app, [*args, "--server", live.url, "--token", live.tokens[who]])
    return r.exit_code, r.stdout + r.stderr


def _hidden_tokens(split) -> list[str]:
    """What names the hidden split: its files and folders, the images' sizes, their count."""
    names = sorted({p.name for p in split.rglob("*")} | {p.stem for p in split.rglob("*.png")} - {"0", "1"})
    return names + ["0.png", "1.png", "88, 88", "88x88", "176, 176", "176x176", "2 images"]


def test_a_failed_test_phase_submission_names_no_hidden_data(live, tiny_models, isp_split, tmp_path):
    import httpx

    live.create_challenge(challenge_def("hid", isp_split))
    _participant(live)
    live.worker(name="w")
    fixed = tiny_models["isp"] / "model.tflite"  # a fixed 16x16 file: the hidden 88x88 images do not fit it
    code, submit_out = _mai(live, "carol", "submit", str(fixed), "--challenge", "hid", "--phase", "testing", "--wait")
    assert code == 1, submit_out
    sub_id = int(re.search(r"submission (\d+)", submit_out).group(1))
    org = live.wait_done(sub_id, "organiser")
    assert org["status"] == "Failed" and org["reason"].startswith("fidelity:"), org
    # the organiser reads the full message, which names a hidden file and the images' size
    assert "0.png" in org["reason"] and "88, 88" in org["reason"], org["reason"]
    org_logs = live.get(f"/api/submissions/{sub_id}/logs", "organiser").json()["stages"]
    assert "0.png" in (org_logs["fidelity"]["error"] or ""), org_logs

    texts = {"mai submit --wait": submit_out}
    for path in (f"/api/submissions/{sub_id}", f"/api/submissions/{sub_id}/logs",
                 "/api/challenges/hid/phases/testing/submissions"):
        r = live.get(path, "carol")
        assert r.status_code == 200, r.text
        texts[path] = r.text
    with httpx.Client(base_url=live.url, timeout=60) as web:
        assert web_sign_in(web, "carol", "carol-pass-1").status_code in (200, 303)
        for path in (f"/submissions/{sub_id}", f"/submissions/{sub_id}.json", "/challenges/hid/phases/testing/submissions",
                     "/challenges/hid/phases/testing/submissions.json", "/challenges/hid"):
            r = web.get(path)
            assert r.status_code == 200, (path, r.status_code)
            texts["page " + path] = r.text
    for args in (("status", str(sub_id)), ("status", str(sub_id), "--json"), ("status", str(sub_id), "--wait"),
                 ("submission", "show", str(sub_id)), ("submission", "logs", str(sub_id)),
                 ("submission", "logs", str(sub_id), "--json"),
                 ("submission", "list", "--challenge", "hid", "--phase", "testing", "--json")):
        code, out = _mai(live, "carol", *args)
        assert code in (0, 1), out
        texts["mai " + " ".join(args)] = out
    leaks = [(where, token) for where, text in texts.items() for token in _hidden_tokens(isp_split) if token in text]
    assert leaks == [], leaks
    # the participant still learns which stage failed, and that the organisers have the details
    assert "fidelity file failed on the hidden test data" in texts[f"/api/submissions/{sub_id}"]
    assert "organisers" in texts[f"page /submissions/{sub_id}"]


def test_the_runtime_log_of_a_hidden_phase_waits_for_publication(live, tiny_models, isp_split, tmp_path):
    from maikit.runtime.drift import DriftPolicy
    from maikit.worker.device import DeviceRunner

    live.create_challenge(challenge_def("hid2", isp_split))
    runner = DeviceRunner("litert-cpu", device="litert-cpu", state_dir=tmp_path / "state",
                          policy=DriftPolicy(tolerance=50.0, cv_tolerance=50.0, max_attempts=1), per_op_top=0)
    live.worker(name="dev", device_runner=runner)
    r = live.upload("hid2", tiny_models["isp"] / "model.tflite", phase="testing",
                    fidelity=tiny_models["isp"] / "model_none.tflite")
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    assert live.wait_done(sub_id, "organiser")["status"] == "Finished"
    measured = re.compile(r"\d+(\.\d+)? ms")
    org = live.get(f"/api/submissions/{sub_id}/logs", "organiser").json()["stages"]["runtime"]["log"]
    assert "[runtime] litert-cpu:" in org and measured.search(org), org  # what the issue saw
    mine = live.get(f"/api/submissions/{sub_id}/logs", "alice").json()["stages"]
    assert not measured.search(mine["runtime"]["log"]) and "publish" in mine["runtime"]["log"], mine
    code, out = _mai(live, "alice", "submission", "logs", str(sub_id))
    assert code == 0 and "[runtime] litert-cpu:" not in out and not measured.search(out), out
    page = live.get(f"/api/submissions/{sub_id}", "alice").json()
    assert page["runtime_ms"] is None and page["runtime_details"] is None
    # once published, the participant reads the measurement
    assert live.post("/api/challenges/hid2/phases/testing/publish", "organiser").status_code == 200
    mine = live.get(f"/api/submissions/{sub_id}/logs", "alice").json()["stages"]["runtime"]["log"]
    assert "[runtime] litert-cpu:" in mine and measured.search(mine), mine
