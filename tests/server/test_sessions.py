"""Web sessions live on the server: the cookie is an opaque random token, and a copy saved
before sign-out, a password change or a role change opens nothing afterwards and cannot mint
an API token; Secure is set over HTTPS (here: a trusted proxy that says so)."""

from __future__ import annotations

import re

import httpx
import pytest

from platform_testing import second_server, stop_live, web_sign_in


def _browser(live, cookie: str | None = None) -> httpx.Client:
    http = httpx.Client(base_url=live.url, timeout=120)
    if cookie is not None:
        http.cookies.set("mai_session", cookie, domain="127.0.0.1")
    return http


def _csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def _api_tokens(live, username: str) -> int:
    from maikit.server.services.users import user_tokens

    with live.platform.db.read() as s:
        from sqlalchemy import select

        from maikit.server.db.models import User

        uid = s.execute(select(User.id).where(User.username == username)).scalar_one()
    return len(user_tokens(live.platform, uid))


@pytest.fixture
def carol(live):
    from maikit.server.services.users import add_user

    add_user(live.platform, username="carol", role="participant", password="carol-secret", team=None)
    return live


def _signed_in(live, password: str = "carol-secret") -> tuple[httpx.Client, str]:
    http = _browser(live)
    http.cookies.set("mai_session", "fixed-by-someone-else", domain="127.0.0.1")  # a cookie planted before sign-in is replaced
    r = web_sign_in(http, "carol", password, next="/account")
    assert r.status_code == 303, r.text
    cookie = http.cookies.get("mai_session")
    assert cookie and cookie != "fixed-by-someone-else"
    return http, cookie


def test_a_cookie_saved_before_sign_out_opens_nothing(carol):
    live = carol
    http, cookie = _signed_in(live)
    account = http.get("/account")
    assert account.status_code == 200 and "carol" in account.text
    csrf = _csrf(account)
    assert http.post("/signout", data={"csrf": csrf}).status_code == 303
    tokens = _api_tokens(live, "carol")
    with _browser(live, cookie) as replay:  # the copy saved before sign-out
        r = replay.get("/account")
        assert r.status_code == 401, r.text[:300]
        minted = replay.post("/account/tokens", data={"csrf": csrf, "label": "stolen"})
        assert minted.status_code in (401, 403) and "mai_u_" not in minted.text
    assert _api_tokens(live, "carol") == tokens


def test_the_cookie_is_an_opaque_random_token(carol):
    from maikit.server.services.sessions import session_user

    live = carol
    _, first = _signed_in(live)
    _, second = _signed_in(live)
    assert first != second and "carol" not in first + second  # random per sign-in, naming no one
    assert session_user(live.platform, first).username == "carol"
    from sqlalchemy import select

    from maikit.server.db.models import WebSession

    with live.platform.db.read() as s:
        stored = set(s.scalars(select(WebSession.token_hash)))
    assert first not in stored and second not in stored  # only hashes are kept


def test_a_password_change_ends_every_session(carol):
    live = carol
    a, cookie_a = _signed_in(live)
    b, cookie_b = _signed_in(live)
    page = a.get("/account")
    r = a.post("/account/password", data={"csrf": _csrf(page), "current": "wrong", "new": "new-secret-1"})
    assert r.status_code == 403 and "current password is wrong" in r.text
    assert b.get("/account").status_code == 200  # a failed change ends nothing
    r = a.post("/account/password", data={"csrf": _csrf(page), "current": "carol-secret", "new": "new-secret-1"})
    assert r.status_code == 303 and r.headers["location"] == "/account?message=password"
    assert a.get("/account").status_code == 200  # this browser has a new session
    assert a.cookies.get("mai_session") != cookie_a
    for old in (cookie_a, cookie_b):
        with _browser(live, old) as replay:
            assert replay.get("/account").status_code == 401
    assert b.get("/account").status_code == 401
    assert web_sign_in(_browser(live), "carol", "carol-secret").status_code == 401
    assert web_sign_in(_browser(live), "carol", "new-secret-1").status_code == 303


def test_a_role_change_ends_every_session(carol):
    live = carol
    http, cookie = _signed_in(live)
    assert http.get("/account").status_code == 200
    r = live.http.patch("/api/users/carol", headers=live.auth("organiser"), json={"role": "organiser"})
    assert r.status_code == 200 and r.json()["role"] == "organiser"
    assert http.get("/account").status_code == 401
    assert live.http.patch("/api/users/carol", headers=live.auth("alice"), json={"role": "participant"}).status_code == 403
    assert live.http.patch("/api/users/nobody", headers=live.auth("organiser"), json={"role": "organiser"}).status_code == 404
    http, _ = _signed_in(live)
    assert http.get("/organiser").status_code == 200  # signed in again: with the new role


def _set_cookie(r: httpx.Response) -> str:
    return next(v for v in r.headers.get_list("set-cookie") if v.startswith("mai_session="))


def test_the_cookie_is_secure_over_https_through_a_trusted_proxy_only(live):
    from maikit.server.services.users import add_user

    add_user(live.platform, username="dora", role="participant", password="dora-secret", team=None)
    proxied = second_server(live, trusted_proxies="127.0.0.1")
    try:
        for server, forwarded, secure in ((live, None, False), (live, "https", False), (proxied, "http", False),
                                          (proxied, "https", True)):
            headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
            with httpx.Client(base_url=server.url, headers=headers) as http:
                # this client speaks plain HTTP to the "proxy" and would keep a Secure cookie to
                # itself: send the form's cookie back by hand, as the browser behind HTTPS would
                form = http.get("/signin")
                visitor = form.cookies["mai_csrf"]
                http.cookies.clear()
                r = http.post("/signin", data={"csrf": _csrf(form), "username": "dora", "password": "dora-secret"},
                              headers={"Cookie": f"mai_csrf={visitor}"})
                assert r.status_code == 303, r.text[:300]
                cookie = _set_cookie(r).lower()
                assert "httponly" in cookie and "samesite=lax" in cookie
                assert ("; secure" in cookie) is secure, (server.url, forwarded, cookie)
    finally:
        stop_live(proxied)
