"""Sign-in floods: argon2 runs outside every transaction and in its own threads, attempts are
limited per user name and per client address (429 with Retry-After, before any hashing), and
a name that does not exist is answered as slowly as one that does.

Client addresses are real: loopback clients bound to 127.0.0.2, 127.0.0.3, ... (Linux routes
all of 127/8 to the loopback interface)."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from platform_testing import start_live, stop_live, wait_for, web_sign_in

ACCOUNT_LIMIT, ADDRESS_LIMIT = 4, 12


def _from(live, address: str) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=300, transport=httpx.HTTPTransport(local_address=address))


def _login(http: httpx.Client, name: str, password: str) -> tuple[int, str | None, float]:
    t0 = time.perf_counter()
    r = http.post("/api/auth/token", json={"username": name, "password": password})
    return r.status_code, r.headers.get("retry-after"), time.perf_counter() - t0


@pytest.fixture
def guarded(engine_name, tmp_path, request):
    """A server with small sign-in limits and a user ``carol`` who has a password."""
    from maikit.server.services.users import add_user

    url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    live = start_live(tmp_path, url, signin_account_attempts=ACCOUNT_LIMIT, signin_address_attempts=ADDRESS_LIMIT)
    add_user(live.platform, username="carol", role="participant", password="carol-secret", team=None)
    yield live
    stop_live(live)


def test_a_flood_is_refused_with_429_and_other_writes_go_on(guarded):
    live = guarded
    flood = 40
    with _from(live, "127.0.0.1") as http, ThreadPoolExecutor(flood) as pool:
        names = [f"ghost-{i}" for i in range(flood)]
        futures = [pool.submit(_login, http, n, "wrong password") for n in names]
        # once the server answers the flood (the first answer is back, the hashing goes on):
        # an unrelated write (a worker token)
        wait_for(lambda: any(f.done() for f in futures), 120, 0.01, "a first answer to the flood")
        t0 = time.perf_counter()
        made = live.post("/api/worker-tokens", "organiser", json={"device_tag": "*", "label": "during the flood"})
        write_s = time.perf_counter() - t0
        results = [f.result() for f in futures]
    assert made.status_code == 201, made.text
    statuses = [r[0] for r in results]
    assert set(statuses) <= {401, 429}, statuses  # no 500 (database is locked), nothing let in
    assert statuses.count(401) == ADDRESS_LIMIT and statuses.count(429) == flood - ADDRESS_LIMIT
    assert all(r[1] is not None and 1 <= int(r[1]) <= 60 for r in results if r[0] == 429)  # the address's window
    hashed = [r[2] for r in results if r[0] == 401]
    # the write waited for no hashing: it took less than a typical refused sign-in did
    assert write_s < statistics.median(hashed), (write_s, sorted(hashed))

    # the address is spent for the web form and sign-ups too, with the same Retry-After
    with _from(live, "127.0.0.1") as browser:
        page = web_sign_in(browser, "ghost-web", "any password")
        assert page.status_code == 429 and "too many sign-in attempts" in page.text.lower()
        assert 1 <= int(page.headers["retry-after"]) <= 60
    # another address is not
    with _from(live, "127.0.0.2") as other:
        assert _login(other, "carol", "carol-secret")[0] == 200


def test_one_name_is_limited_across_addresses_and_a_success_clears_it(guarded):
    live = guarded
    addresses = iter(f"127.0.0.{i}" for i in range(10, 60))

    def attempt(password: str, name: str = "carol"):
        with _from(live, next(addresses)) as http:
            return _login(http, name, password)[:2]

    for _ in range(ACCOUNT_LIMIT - 1):
        assert attempt("wrong")[0] == 401
    assert attempt("carol-secret")[0] == 200  # the owner signs in: the name's count starts again
    for _ in range(ACCOUNT_LIMIT):
        assert attempt("wrong")[0] == 401
    status, retry = attempt("carol-secret")  # from yet another address: the name is at its limit
    assert status == 429 and 1 <= int(retry) <= 300
    status, retry = attempt("wrong", name="ghost")  # a name that does not exist is limited the same way
    assert status == 401
    for _ in range(ACCOUNT_LIMIT - 1):
        attempt("wrong", name="ghost")
    assert attempt("wrong", name="ghost")[0] == 429
    assert attempt("wrong", name="dave")[0] == 401  # other names are not


def test_unknown_names_take_as_long_as_known_ones(tmp_path):
    """Median of a few tries each, compared with each other (no absolute time): a name with a
    password, a name without one, and a name that does not exist."""
    from maikit.server.services.users import add_user

    live = start_live(tmp_path, None, signin_account_attempts=100, signin_address_attempts=100)
    try:
        add_user(live.platform, username="carol", role="participant", password="carol-secret", team=None)
        times: dict[str, list[float]] = {"carol": [], "alice": [], "nobody-here": []}
        with _from(live, "127.0.0.1") as http:
            _login(http, "carol", "warm-up")
            for _ in range(5):
                for name in times:  # interleaved, so a busy moment of the machine hits all three
                    status, _retry, took = _login(http, name, "wrong password")
                    assert status == 401
                    times[name].append(took)
        known = statistics.median(times["carol"])
        for name in ("alice", "nobody-here"):
            ratio = statistics.median(times[name]) / known
            assert 0.5 < ratio < 2.0, (name, times)
    finally:
        stop_live(live)
