"""Messages that say exactly what counts where (issue 24 item 6), on SQLite and PostgreSQL: a
preflight rejection's reply says it uses no submission quota but counts toward the
failed-attempt limit (with the count), the stage logs give the limits in words, and ``mai
status`` and ``mai submit`` share one exit rule (Failed -> 1, with or without --wait)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from maikit.cli import app
from platform_testing import challenge_def


def _mai(live, who: str, *args) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [*args, "--server", live.url, "--token", live.tokens[who]])
    return r.exit_code, r.stdout, r.stderr


def test_replies_say_what_counts_and_the_commands_share_one_exit_rule(live, tiny_models, isp_split, tmp_path):
    live.create_challenge(challenge_def("hm", isp_split, max_failed_per_day=5))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer" * 20)
    r = live.upload("hm", junk)
    assert r.status_code == 422, r.text
    body = r.json()
    assert "uses none of your submission quota" in body["counts"] and "max_failed_per_day" in body["counts"]
    assert body["quota"]["used_today"] == 0 and body["quota"]["failed_today"] == 1
    code, _out, err = _mai(live, "alice", "submit", str(junk), "--challenge", "hm")
    assert code == 1 and "uses none of your submission quota" in err and "2 of 5 failed attempts used today" in err, err

    live.worker(name="w")
    fixed = tiny_models["isp"] / "model.tflite"  # fails at the fidelity stage (the images are 88x88)
    code, out, err = _mai(live, "alice", "submit", str(fixed), "--challenge", "hm", "--wait")
    assert code == 1, out + err
    sub_id = int(re.search(r"submission (\d+)", err + out).group(1))
    for args in (("status", str(sub_id), "--wait"), ("status", str(sub_id)), ("status", str(sub_id), "--json")):
        code, out, err = _mai(live, "alice", *args)
        assert code == 1, (args, out, err)  # the same rule as `mai submit --wait`
    dynamic = tiny_models["isp"] / "model_none.tflite"
    r = live.upload("hm", dynamic, fidelity=dynamic)
    ok_id = r.json()["id"]
    code, out, err = _mai(live, "alice", "status", str(ok_id), "--wait")
    assert code == 0 and "Finished" in out, out + err
    # the stage logs give the limits in words, not a Python repr
    logs = live.get(f"/api/submissions/{sub_id}/logs", "alice").json()["stages"]
    text = logs["fidelity"]["log"] + logs["runtime"]["log"]
    assert "Limits(" not in text and "memory_mb=" not in text
    assert "2048 MB of memory, 120 s of wall clock" in live.get(f"/api/submissions/{ok_id}/logs", "alice").json()["stages"]["runtime"]["log"]
