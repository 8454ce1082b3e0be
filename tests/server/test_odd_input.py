"""Odd input gets a 4xx with a reason, never a 500, and the keep-alive connection still works:
ids past the database's integers in every path and body that takes one (found from the app's
route table, so a new route is covered without an edit here); strings longer than their
columns (422 naming the field and its limit); a worker result that says ``ok`` without the
metrics its role measures (422 naming what is missing; the job is put back in the queue, not
left leased)."""

from __future__ import annotations

import re
import typing

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import select

from platform_testing import challenge_def, wait_for

TOO_BIG = (2**31, 2**63, 2**64 + 7)  # past PostgreSQL's INTEGER, past a 64-bit integer


def _routes(app):
    """(path, route) of every API route and page, through included routers."""
    def walk(routes, prefix=""):
        for r in routes:
            if hasattr(r, "original_router"):  # FastAPI's included router
                yield from walk(r.original_router.routes, prefix + (r.include_context.prefix or ""))
            elif isinstance(r, APIRoute):
                yield prefix + r.path, r
    return list(walk(app.routes))


def _int_params(route: APIRoute) -> tuple[list[str], list[tuple[str, str]]]:
    """The route's integer path parameters, and (body parameter, field) pairs of integer body fields."""
    path = [p.name for p in route.dependant.path_params if p.field_info.annotation is int]
    body = []
    for p in route.dependant.body_params:
        ann = p.field_info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            body += [(p.name, f) for f, info in ann.model_fields.items()
                     if info.annotation is int or int in typing.get_args(info.annotation)]
    return path, body


def _fill(path: str, ints: dict[str, int]) -> str:
    def one(m):
        name = m.group(1).split(":")[0]
        return str(ints[name]) if name in ints else {"role": "runtime", "name": "x.txt", "fmt": "csv"}.get(name, "x")
    return re.sub(r"\{([^}]+)\}", one, path)


def test_every_integer_id_past_the_database_is_a_4xx_and_the_connection_lives(live):
    cases = []
    for path, route in _routes(live.app):
        ints, body = _int_params(route)
        if ints or body:
            cases += [(m, path, ints, body) for m in sorted(route.methods)]
    found = {path for _m, path, _i, _b in cases}
    # the routes this test knows take an id today (a new one is tested too, without an edit here)
    for known in ("/api/submissions/{sub_id}", "/api/workers/{worker_id}/health", "/api/workers/claim",
                  "/api/jobs/{job_id}/result", "/api/jobs/{job_id}/heartbeat", "/api/jobs/{job_id}/file",
                  "/api/jobs/{job_id}/log", "/account/tokens/{token_id}/revoke", "/submissions/{sub_id:int}"):
        assert known in found, (known, sorted(found))
    ok = live.get("/api/health")
    assert ok.status_code == 200
    seen = []
    for big in TOO_BIG:
        for method, path, ints, body in cases:
            url = _fill(path, {name: big for name in ints})
            json = {field: big for _p, field in body} if body else None
            if json is not None and "claim" in path:
                json["wait_s"] = 0
            token = live.tokens["worker"] if "/workers" in path else live.tokens["organiser"]
            r = live.http.request(method, url, json=json, headers={"Authorization": f"Bearer {token}"})
            seen.append((method, url, r.status_code))
            assert r.status_code < 500, (method, url, r.status_code, r.text[:300])
            # the same keep-alive connection answers the next request
            assert live.http.get("/api/health").status_code == 200, (method, url)
    api = [(m, u, code) for m, u, code in seen if u.startswith("/api/") and "/jobs/" not in u]
    assert all(code in (404, 422) for _m, _u, code in api), api


@pytest.mark.parametrize("path,who,body,field,limit", [
    ("/api/workers/register", "worker", {"name": "w", "roles": ["runtime"], "device_tag": "d" * 500}, "device_tag", 64),
    ("/api/workers/register", "worker", {"name": "n" * 500, "roles": ["runtime"]}, "name", 100),
    ("/api/users", "organiser", {"username": "carol", "team": "t" * 500}, "team", 100),
    ("/api/users", "organiser", {"username": "u" * 500}, "username", 64),
    ("/api/worker-tokens", "organiser", {"device_tag": "d" * 500}, "device_tag", 64),
    ("/api/worker-tokens", "organiser", {"label": "l" * 500}, "label", 100),
])
def test_strings_longer_than_their_column_are_422_naming_the_field(live, path, who, body, field, limit):
    r = live.post(path, who, json=body)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    where = [e for e in detail if e["loc"][-1] == field]
    assert where and str(limit) in where[0]["msg"], detail
    assert live.get("/api/health").status_code == 200  # the connection still works


def test_signup_form_with_an_overlong_team_is_refused_naming_the_field(live):
    from platform_testing import web_sign_in  # noqa: F401  (the form's CSRF comes from the page)

    form = live.http.get("/signup")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    r = live.http.post("/signup", data={"csrf": csrf, "username": "dave", "password": "a long enough password 1",
                                         "team": "t" * 500})
    assert r.status_code == 422, (r.status_code, r.text[-500:])
    assert "team" in r.text.lower() and "100" in r.text
    assert live.get("/api/health").status_code == 200


def _runtime_job(live, sub_id: int):
    from maikit.server.db.models import Job

    with live.platform.db.read() as s:
        job = s.execute(select(Job).where(Job.submission_id == sub_id, Job.role == "runtime")).scalar_one()
        s.expunge(job)
        return job


@pytest.mark.parametrize("body,missing", [
    ({"ok": True}, "avg_ms"),
    ({"ok": True, "result": {}}, "avg_ms"),
    ({"ok": True, "result": {"avg_ms": "fast"}}, "avg_ms"),
    ({"ok": True, "result": {"avg_ms": True}}, "avg_ms"),
    ({"ok": True, "result": ["avg_ms", 1.0]}, "result"),
    ({"ok": "perhaps", "result": {"avg_ms": 1.0}}, "ok"),
])
def test_ok_result_without_its_metrics_is_422_and_the_job_goes_back_to_the_queue(live, tiny_models, isp_split, body,
                                                                                  missing):
    live.create_challenge(challenge_def("odd7", isp_split))
    sub = live.upload("odd7", tiny_models["isp"] / "model.tflite").json()
    r = live.post("/api/workers/register", "worker", json={"name": "bad", "roles": ["runtime"]})
    wid = r.json()["worker_id"]
    job = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 10}).json()
    lease = {"Authorization": f"Bearer {job['lease_token']}"}
    r = live.http.post(f"/api/jobs/{job['job_id']}/result", headers=lease, json=body)
    assert r.status_code == 422, (r.status_code, r.text)
    assert missing in r.text, r.text
    if missing != "ok":  # the schema's own 422 lists the fields; the service's says where the job went
        assert "queue" in r.text, r.text
    row = _runtime_job(live, sub["id"])
    assert row.status == "queued" and row.lease_hash is None and row.attempt == 1  # at once, not after the lease
    assert row.result is None
    # the lease is gone: the same worker's retry is a 409; the next claim is attempt 2
    assert live.http.post(f"/api/jobs/{job['job_id']}/result", headers=lease, json=body).status_code == 409
    again = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 10}).json()
    assert again["job_id"] == job["job_id"] and again["attempt"] == 2
    good = {"ok": True, "result": {"avg_ms": 1.5, "p50_ms": 1.5, "p90_ms": 1.6, "min_ms": 1.4, "runs": 3, "worker": "bad"}}
    r = live.http.post(f"/api/jobs/{again['job_id']}/result", headers={"Authorization": f"Bearer {again['lease_token']}"},
                       json=good)
    assert r.status_code == 200, r.text
    assert _runtime_job(live, sub["id"]).status == "done"


def test_ok_fidelity_result_names_the_missing_metrics(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("odd8", isp_split))
    live.upload("odd8", tiny_models["isp"] / "model.tflite")
    wid = live.post("/api/workers/register", "worker", json={"name": "badfid", "roles": ["fidelity"]}).json()["worker_id"]
    job = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 10}).json()
    assert job["role"] == "fidelity"
    r = live.http.post(f"/api/jobs/{job['job_id']}/result", headers={"Authorization": f"Bearer {job['lease_token']}"},
                       json={"ok": True, "result": {"psnr": 30.0}})
    assert r.status_code == 422 and "ssim" in r.text.lower(), r.text
    # the score's metric must be a number; another metric may be null (not measured)
    job = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 10}).json()  # requeued
    r = live.http.post(f"/api/jobs/{job['job_id']}/result", headers={"Authorization": f"Bearer {job['lease_token']}"},
                       json={"ok": True, "result": {"psnr": None, "ssim": 0.9, "ms_ssim": 0.9}})
    assert r.status_code == 422 and "psnr is not a finite number" in r.text, r.text


def test_a_bad_result_every_attempt_fails_the_submission_as_infrastructure(live, tiny_models, isp_split):
    live.create_challenge(challenge_def("odd9", isp_split))
    sub = live.upload("odd9", tiny_models["isp"] / "model.tflite").json()
    wid = live.post("/api/workers/register", "worker", json={"name": "broken", "roles": ["runtime"]}).json()["worker_id"]
    for attempt in (1, 2, 3):  # max_attempts = 3
        job = live.post("/api/workers/claim", "worker", json={"worker_id": wid, "wait_s": 10}).json()
        assert job["attempt"] == attempt
        r = live.http.post(f"/api/jobs/{job['job_id']}/result", headers={"Authorization": f"Bearer {job['lease_token']}"},
                           json={"ok": True, "result": {}})
        assert r.status_code == 422
    done = live.wait_done(sub["id"])
    assert done["status"] == "Failed" and done["fault"] == "infrastructure", done
    assert "avg_ms" in done["reason"]
    quota = live.get("/api/challenges/odd9/phases/validation/quota", "alice").json()
    assert quota["used_today"] == 0
    wait_for(lambda: _runtime_job(live, sub["id"]).status == "failed", 30, 0.1, "the job failed")


def test_the_challenge_file_limits_are_the_columns():
    from maikit.server.challenge import DEVICE_TAG_MAX, TITLE_MAX
    from maikit.server.db.models import Challenge, Job, Worker, column_length

    assert TITLE_MAX == column_length(Challenge.title)
    assert DEVICE_TAG_MAX == column_length(Job.device_tag) == column_length(Worker.device_tag)


@pytest.mark.parametrize("change,field,limit", [
    (lambda d: d.update(title="T" * 500), "title", 200),
    (lambda d: d["protocol"].update(device="d" * 500), "device", 64),
])
def test_a_challenge_with_an_overlong_string_is_422_naming_the_field(live, isp_split, change, field, limit):
    d = challenge_def("odd10", isp_split)
    change(d)
    r = live.post("/api/challenges", "organiser", json=d)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert field in r.text and str(limit) in r.text, r.text[:500]
    assert live.get("/api/health").status_code == 200


def test_create_user_refuses_an_overlong_team_naming_it(live):
    from maikit.server.errors import Invalid
    from maikit.server.services.users import create_user

    p = live.platform
    with pytest.raises(Invalid, match=r"team: at most 100 characters"):
        with p.db.write() as s, s.begin():
            create_user(s, username="erin", role="participant", team="t" * 101, now=p.now())
