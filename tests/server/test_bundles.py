"""Final-phase bundles through a real server (SQLite and PostgreSQL): a phase that requires a
code archive and a factsheet refuses an incomplete or unsafe bundle at preflight, for free,
naming what is wrong; factsheets are editable until the phase ends and private to their team;
organisers download whole bundles."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import zipfile

import yaml
from bundle_testing import factsheet, zip_bytes
from platform_testing import challenge_def, submission_rows

from maikit.server.services.users import create_user, issue_user_token


def _final(slug: str, split, **bundle) -> dict:
    d = challenge_def(slug, split)
    d["phases"][1]["bundle"] = {"code": "required", "factsheet": "required", "code_cap_mb": 0.05, **bundle}
    return d


def _upload(live, slug, model, who="alice", code: bytes | None = None, sheet: bytes | None = None, phase="testing"):
    files = {"file": ("model.tflite", model.read_bytes(), "application/octet-stream")}
    if code is not None:
        files["code_file"] = ("code.zip", code, "application/octet-stream")
    if sheet is not None:
        files["factsheet_file"] = ("factsheet.yaml", sheet, "application/yaml")
    return live.post(f"/api/challenges/{slug}/phases/{phase}/submissions", who, files=files)


CODE = zip_bytes({"train.py": b"print('train')\n", "README.md": b"# our method\n"})


def test_an_incomplete_or_unsafe_bundle_is_refused_at_preflight_for_free_naming_what_is_wrong(live, isp_split, tiny_models):
    live.create_challenge(_final("fin1", isp_split))
    model = tiny_models["isp"] / "model.tflite"
    sheet = yaml.safe_dump(factsheet("Tiny & Co")).encode()

    def refused(**kw) -> str:
        r = _upload(live, "fin1", model, **kw)
        assert r.status_code == 422, r.text
        assert "submission_id" in r.json()  # a preflight rejection, kept in the owner's list
        return r.json()["detail"]

    assert refused() == ("preflight: incomplete bundle: this phase needs the code archive and the factsheet beside the "
                         "model (--code FILE; --factsheet FILE, or write it on the phase's factsheet page)")
    assert "needs the factsheet beside" in refused(code=CODE)
    assert "needs the code archive beside" in refused(sheet=sheet)
    evil = zip_bytes({"ok.py": b"1", "../../etc/cron.d/evil": b"* * * * * root sh"})
    assert refused(code=evil, sheet=sheet) == ("preflight: code archive: member '../../etc/cron.d/evil' has a '..' "
                                               "component (it would unpack outside its folder)")
    assert "code archive: not a zip or tar archive" in refused(code=b"MZ\x90\x00 an executable", sheet=sheet)
    bad = factsheet("Tiny & Co", members=[{"name": "No Mail"}])
    assert refused(code=CODE, sheet=yaml.safe_dump(bad).encode()) == (
        "preflight: factsheet: members[0] is the contact: give their e-mail")
    assert "factsheet: links[0].url: must be an http:// or https:// address" in refused(
        code=CODE, sheet=json.dumps(factsheet("T", links=[{"url": "javascript:alert(1)"}])).encode())
    laughs = b"team: &a [x, x]\ntitle: *a\n"
    assert "aliases (*name) are not accepted" in refused(code=CODE, sheet=laughs)
    # over the phase's code cap (50 KB): refused before anything runs, nothing kept
    r = _upload(live, "fin1", model, code=b"PK\x03\x04" + bytes(60_000), sheet=sheet)
    assert r.status_code == 413 and "code archive larger than the phase's cap of 0.05 MB" in r.json()["detail"]
    # none of these used quota: each is a Failed preflight row
    assert live.get("/api/challenges/fin1/phases/testing/quota", "alice").json()["used_total"] == 0
    assert set(submission_rows(live, "fin1", "testing")) == {"Failed"}
    assert live.get("/api/challenges/fin1/phases/testing/factsheet", "alice").json()["factsheet"] is None

    # the validation phase takes no bundle: extra parts are refused, not silently dropped
    r = _upload(live, "fin1", model, code=CODE, phase="validation")
    assert r.status_code == 422 and r.json()["detail"] == "phase 'validation' takes no code archive; send the model file(s) only"

    # complete: accepted; the code archive checked in the preflight child, the factsheet saved
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as tf:
        info = tarfile.TarInfo("src/train.py")
        info.size = 6
        tf.addfile(info, io.BytesIO(b"pass\n\n"))
    r = _upload(live, "fin1", model, code=tar.getvalue(), sheet=sheet)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["code"]["format"] == "tar.gz" and sub["code"]["size_bytes"] == len(tar.getvalue())
    assert sub["preflight"]["code"]["top"] == ["src/train.py"]
    saved = live.get("/api/challenges/fin1/phases/testing/factsheet", "alice").json()
    assert saved["factsheet"]["team"] == "Tiny & Co" and saved["editable"] and saved["updated_by"] == "alice"
    # a factsheet on file completes later bundles: the code archive alone is enough now
    assert _upload(live, "fin1", model, code=CODE).status_code == 201


def test_factsheets_are_editable_until_the_phase_ends_and_private_to_their_team(live, isp_split):
    live.create_challenge(_final("fin2", isp_split))
    url = "/api/challenges/fin2/phases/testing/factsheet"
    p = live.platform
    with p.db.write() as s, s.begin():
        for name in ("carol", "dave"):
            u = create_user(s, username=name, role="participant", password=None, team="Tiny & Co", now=p.now())
            live.tokens[name] = issue_user_token(s, u, p.now())

    r = live.http.put(url, headers=live.auth("carol"), json=factsheet("Tiny & Co"))
    assert r.status_code == 200, r.text
    # the team's one factsheet: dave sees and edits carol's; alice (another team) sees none of it
    assert live.get(url, "dave").json()["factsheet"]["title"] == "Tiny & Co's method"
    r = live.http.put(url, headers=live.auth("dave") | {"Content-Type": "application/yaml"},
                      content=yaml.safe_dump(factsheet("Tiny & Co", title="Revised")))
    assert r.status_code == 200 and r.json()["updated_by"] == "dave"
    assert live.get(url, "alice").json()["factsheet"] is None
    assert live.get("/api/challenges/fin2/phases/testing/factsheets", "alice").status_code == 403
    every = live.get("/api/challenges/fin2/phases/testing/factsheets", "organiser").json()["factsheets"]
    assert [f["factsheet"]["title"] for f in every] == ["Revised"]

    bad = live.http.put(url, headers=live.auth("dave"), json=factsheet("Tiny & Co", framework=" "))
    assert bad.status_code == 422 and bad.json()["detail"] == "factsheet: framework is blank"
    huge = live.http.put(url, headers=live.auth("dave"), json=factsheet("T", description="x" * 70_000))
    assert huge.status_code == 413

    # concurrent saves by both members: one row, the last save wins, no error
    errors = []

    def save(who: str, i: int):
        r = live.http.put(url, headers=live.auth(who), json=factsheet("Tiny & Co", title=f"v{i}"))
        if r.status_code != 200:
            errors.append(r.text)

    threads = [threading.Thread(target=save, args=("carol" if i % 2 else "dave", i)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    every = live.get("/api/challenges/fin2/phases/testing/factsheets", "organiser").json()["factsheets"]
    assert len(every) == 1 and every[0]["factsheet"]["title"] in {f"v{i}" for i in range(12)}

    # after the phase's end: read-only
    p.clock.shift(40 * 86400)
    r = live.http.put(url, headers=live.auth("carol"), json=factsheet("Tiny & Co", title="Too late"))
    assert r.status_code == 403 and "can no longer change" in r.json()["detail"]
    view = live.get(url, "carol").json()
    assert view["editable"] is False and view["factsheet"]["title"] != "Too late"


def test_organisers_download_whole_bundles_and_participants_see_nothing_of_others(live, isp_split, tiny_models):
    live.create_challenge(_final("fin3", isp_split))
    model = tiny_models["isp"] / "model.tflite"
    r = _upload(live, "fin3", model, code=CODE, sheet=yaml.safe_dump(factsheet("Alice's")).encode())
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    z = live.get(f"/api/submissions/{sid}/bundle", "organiser")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        assert sorted(zf.namelist()) == ["code.zip", "factsheet.json", "model.tflite"]
        assert zf.read("code.zip") == CODE and zf.read("model.tflite") == model.read_bytes()
        assert json.loads(zf.read("factsheet.json"))["team"] == "Alice's"
    code = live.get(f"/api/submissions/{sid}/files/code", "organiser")
    assert code.status_code == 200 and code.content == CODE
    assert 'filename="code-' in code.headers["content-disposition"]

    for path in (f"/api/submissions/{sid}/bundle", f"/api/submissions/{sid}/files/code"):
        assert live.get(path, "bob").status_code == 403
        assert live.get(path, "alice").status_code == 403  # organisers' downloads, the owner included
    assert live.get(f"/api/submissions/{sid}", "bob").status_code == 404
    assert live.get("/api/challenges/fin3/phases/testing/factsheet", "bob").json()["factsheet"] is None
    own = live.get(f"/api/submissions/{sid}", "alice").json()
    assert own["code"]["sha256"] and own["code"]["format"] == "zip"
