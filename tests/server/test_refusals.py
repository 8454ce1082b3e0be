"""The services' refusals get one status each, the same through the API (JSON ``detail``) and
the pages (the error page): the table in ``maikit.server.api.errors``, checked against what the
HTTP statuses mean (RFC 9110, RFC 6585, RFC 4918 for 507) and through a running server."""

from __future__ import annotations

import inspect

from maikit.server import errors
from maikit.server.api.errors import headers_of, status_of

# by RFC 9110 / 6585 / 4918: what each kind of refusal is
MEANING = {"Interrupted": 400, "Unauthorized": 401, "Forbidden": 403, "PhaseClosed": 403, "NotFound": 404,
           "Conflict": 409, "TooLarge": 413, "Invalid": 422, "QuotaExceeded": 429, "RateLimited": 429,
           "Unavailable": 503, "StoreUnavailable": 507, "ServiceError": 400}


def test_every_refusal_has_the_status_its_meaning_asks_for():
    classes = {name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, errors.ServiceError)}
    assert set(classes) == set(MEANING), "a new refusal needs its status in MEANING and in api/errors.STATUS"
    assert {name: status_of(cls("why")) for name, cls in classes.items()} == MEANING
    assert headers_of(errors.Unauthorized("who?")) == {"WWW-Authenticate": "Bearer"}
    assert headers_of(errors.Unavailable("later", retry_after_s=2.4)) == {"Retry-After": "2"}
    assert headers_of(errors.NotFound("no")) == {}


def test_the_api_and_the_pages_answer_a_refusal_with_the_same_status(live):
    r = live.get("/api/challenges/nope")
    assert (r.status_code, r.json()) == (404, {"detail": "no challenge 'nope'"})
    page = live.get("/challenges/nope")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "no challenge &#39;nope&#39;" in page.text

    r = live.get("/api/me")
    assert (r.status_code, r.json()["detail"], r.headers["www-authenticate"]) == \
        (401, "a user token is needed (Authorization: Bearer TOKEN)", "Bearer")
    page = live.get("/account")
    assert page.status_code == 401 and "sign in to see this page" in page.text

    r = live.post("/api/users", "alice", json={"username": "eve"})
    assert (r.status_code, r.json()) == (403, {"detail": "organisers only"})
    r = live.post("/api/workers/register", "alice", json={"name": "w"})
    assert (r.status_code, r.json()) == (403, {"detail": "a worker token is needed, not a user token"})
    r = live.http.post("/api/jobs/12345/heartbeat", headers={"Authorization": "Bearer mai_l_stale"})
    assert r.status_code == 409 and "this lease is not current" in r.json()["detail"]
    r = live.http.post("/api/auth/token", json={"username": "alice", "password": "wrong"})
    assert (r.status_code, r.json()) == (401, {"detail": "wrong user name or password"})
    # a route FastAPI does not know: JSON under /api, the error page elsewhere
    assert live.get("/api/nothing-here").json() == {"detail": "Not Found"}
    assert live.get("/nothing-here").headers["content-type"].startswith("text/html")
