"""One sender cannot hold every upload and preflight place (issue 31 item 4): uploads in
progress (the body arriving, then the preflight) are bounded per account (1) and per client
address (one fewer than the preflight slots); more wait in line, up to ``upload_waiting``;
past that, 429 with Retry-After. A crafted flatbuffer (a tensors vector of 2,000,000 offsets to
one table, built in the test) fails its preflight with the reason, and another account's
valid upload from another address is answered while the attacker's uploads still wait.

Client addresses are real: loopback clients bound to 127.0.0.2, 127.0.0.3, ... The order of
events is asserted (who was answered while whose upload was still open), never a time."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _fixtures import shared_tensor_tflite

from platform_testing import challenge_def, start_live, stop_live, wait_for

ATTACKER, VICTIM, OTHER = "127.0.0.2", "127.0.0.3", "127.0.0.4"


@pytest.fixture
def bounded(tmp_path, isp_split):
    from maikit.server.services.users import create_user, issue_user_token

    live = start_live(tmp_path, None, preflight_concurrency=2, upload_waiting=1)
    p = live.platform
    with p.db.write() as s, s.begin():
        carol = create_user(s, username="carol", role="participant", password=None, team=None, now=p.now())
        live.tokens["carol"] = issue_user_token(s, carol, p.now())
    d = challenge_def("pb", isp_split)
    d["upload_cap_mb"] = 9  # the crafted file is 8 MB
    live.create_challenge(d)
    yield live
    stop_live(live)


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.tflite\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _user_id(live, name: str) -> int:
    from maikit.server.services.users import authenticate

    return authenticate(live.platform, live.tokens[name]).as_user().id


class Upload(threading.Thread):
    """An upload through httpx from a given address, answered in a thread of its own."""

    def __init__(self, live, who: str, address: str, data: bytes):
        super().__init__(daemon=True)
        self.live, self.who, self.address, self.data = live, who, address, data
        self.response: httpx.Response | None = None

    def run(self):
        with httpx.Client(base_url=self.live.url, timeout=300,
                          transport=httpx.HTTPTransport(local_address=self.address)) as http:
            self.response = http.post("/api/challenges/pb/phases/validation/submissions", headers=self.live.auth(self.who),
                                      files={"file": ("m.tflite", self.data)})


def test_one_sender_holds_only_its_own_places_and_a_crafted_file_fails_with_its_reason(bounded, tiny_models):
    live = bounded
    p = live.platform
    crafted = shared_tensor_tflite(2_000_000)
    good = (tiny_models["isp"] / "model.tflite").read_bytes()
    alice = _user_id(live, "alice")
    body, ctype = _multipart(crafted)
    port = int(live.url.rsplit(":", 1)[1])

    # alice's first upload: its head and 1 MB of the crafted file arrive, the rest is held back
    a1 = socket.create_connection(("127.0.0.1", port), source_address=(ATTACKER, 0))
    a1.sendall((f"POST /api/challenges/pb/phases/validation/submissions HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {live.tokens['alice']}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:1_000_000])
    wait_for(lambda: p.account_turns.queued(alice) == 1 and p.address_turns.queued(ATTACKER) == 1, 60,
             what="alice's first upload to hold her account's and her address's place")

    # her second upload, from another address, waits in line behind the first
    a2 = Upload(live, "alice", OTHER, crafted)
    a2.start()
    wait_for(lambda: p.account_turns.queued(alice) == 2, 60, what="alice's second upload to wait in line")
    # her third finds the line full: 429 at once, with when to try again
    with httpx.Client(base_url=live.url, timeout=300, transport=httpx.HTTPTransport(local_address=OTHER)) as http:
        r = http.post("/api/challenges/pb/phases/validation/submissions", headers=live.auth("alice"),
                      files={"file": ("m.tflite", crafted)})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
    assert r.json()["detail"].startswith("too many uploads from your account at once"), r.text

    # carol shares alice's address: she waits for the address's one place
    c = Upload(live, "carol", ATTACKER, good)
    c.start()
    wait_for(lambda: p.address_turns.queued(ATTACKER) == 2, 60, what="carol to wait for her address's place")

    # bob, another account at another address, is answered while all of those still wait
    b = Upload(live, "bob", VICTIM, good)
    b.start()
    b.join(300)
    assert b.response is not None and b.response.status_code == 201, b.response and b.response.text
    assert a2.is_alive() and c.is_alive() and a2.response is None and c.response is None
    assert p.account_turns.queued(alice) == 2  # alice's first upload still holds its place

    # the rest of alice's crafted file: refused at preflight with the reason, no quota used
    a1.sendall(body[1_000_000:])
    a1.settimeout(300)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        more = a1.recv(65536)
        if not more:
            break
        answer += more
    a1.close()
    assert answer.startswith(b"HTTP/1.1 422"), answer[:300]
    assert b"preflight: runtime file:" in answer and b"2000000 tensors in the file, more than the limit of 200000" in answer

    # then the ones that waited go on: alice's second (the same reason) and carol's
    a2.join(300)
    c.join(300)
    assert a2.response.status_code == 422 and "more than the limit of 200000" in a2.response.json()["detail"]
    assert c.response.status_code == 201, c.response.text
    assert p.account_turns.queued(alice) == 0 and p.address_turns.queued(ATTACKER) == 0  # every place given back
    quota = live.get("/api/challenges/pb/phases/validation/quota", "alice").json()
    assert quota["used_total"] == 0  # a preflight failure costs no quota


def test_turns_are_first_come_first_served_and_a_full_line_is_refused_at_once():
    import asyncio

    from maikit.server.core.limits import Turns

    async def scenario() -> list[str]:
        turns, events = Turns(at_once=1, waiting=2), []
        release = asyncio.Event()

        async def upload(name: str, hold: bool = False):
            async with turns.turn("alice") as ok:
                events.append(f"{name} {'in' if ok else 'refused'}")
                if ok and hold:
                    await release.wait()

        first = asyncio.create_task(upload("a1", hold=True))
        while turns.queued("alice") < 1:
            await asyncio.sleep(0)
        waiting = [asyncio.create_task(upload(n)) for n in ("a2", "a3")]
        while turns.queued("alice") < 3:
            await asyncio.sleep(0)
        await upload("a4")  # the line (1 holding, 2 waiting) is full
        release.set()
        await asyncio.gather(first, *waiting)
        assert turns.queued("alice") == 0 and not turns._lines  # forgotten once empty
        return events

    # a loop of its own in a thread of its own: in a pytest-xdist worker that ran the browser
    # tests first, Playwright's loop runs in the main thread, where asyncio.run refuses to start
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, scenario()).result() == ["a1 in", "a4 refused", "a2 in", "a3 in"]


def test_a_stalled_upload_is_cut_and_gives_its_place_back(tmp_path, isp_split, tiny_models):
    """A body that stops arriving for ``upload_idle_s`` is answered 400 and its place (the
    account's, the address's) is free again; nothing of it stays in the store."""
    import select

    live = start_live(tmp_path, None, upload_idle_s=1.0)
    try:
        live.create_challenge(challenge_def("st", isp_split))
        alice = _user_id(live, "alice")
        good = (tiny_models["isp"] / "model.tflite").read_bytes()
        body, ctype = _multipart(good)
        port = int(live.url.rsplit(":", 1)[1])
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall((f"POST /api/challenges/st/phases/validation/submissions HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {live.tokens['alice']}\r\nContent-Type: {ctype}\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:len(body) // 2])
        assert select.select([s], [], [], 120)[0], "a stalled upload was never cut"
        s.settimeout(60)
        answer = b""
        while more := s.recv(65536):  # to the end: the answer closes the connection (its body was left unread)
            answer += more
        s.close()
        assert answer.startswith(b"HTTP/1.1 400") and b"the upload stalled: nothing arrived for 1 s" in answer, answer
        wait_for(lambda: live.platform.account_turns.queued(alice) == 0, 60, what="alice's place to be given back")
        assert list((live.platform.store.root / "tmp").iterdir()) == []
        assert live.upload("st", tiny_models["isp"] / "model.tflite").status_code == 201
    finally:
        stop_live(live)
