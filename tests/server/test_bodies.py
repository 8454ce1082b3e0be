"""Request bodies are bounded and nobody's body is read before they are known (issue 31 item 1;
issue 30 item 9): against a server in its own process on loopback, raw sockets claim 1,000 MB
(``Content-Length``) and send a few MB with a junk token to the log route, the sign-in, the
API upload and the page upload. Each is answered (401, 409 or 413) while the client is still
sending, the connection is closed rather than drained, and the server's peak memory
(``VmHWM`` in /proc) and its data and temporary folders do not grow. A store that cannot
take a file (the server process under ``RLIMIT_FSIZE``, a file-size limit: its writes past it
fail with EFBIG, as on a full disk they fail with ENOSPC) answers 507 and keeps nothing."""

from __future__ import annotations

import resource
import select
import socket
from pathlib import Path

import httpx
import pytest
from server_process import start, stop

from platform_testing import challenge_def, free_port

CLAIMED = 1_000_000_000  # bytes the request says it has
SENT = 8_000_000  # bytes the client tries to send after the answer


def _status(line: bytes) -> int:
    return int(line.split(b" ", 2)[1])


def hostile(port: int, method: str, path: str, headers: dict, claimed: int = CLAIMED, chunked: bool = False,
            source: str = "127.0.0.1", first: int = 65536) -> tuple[int, bytes, int]:
    """Send a request that claims ``claimed`` bytes (or is chunked) with the first ``first``
    bytes (64 KB) of its body and wait for the answer, sending nothing more: a server that
    waits for the body never answers (fails after 60 s). Then try to send the next few MB
    (SENT): (status, the answer, the bytes the closed connection still took)."""
    s = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
    try:
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {claimed}")
        block = b"x" * first
        piece = b"%x\r\n%s\r\n" % (len(block), block) if chunked else block
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + piece)
        assert select.select([s], [], [], 60)[0], f"{path}: no answer within 60 s to a body that claims {claimed} bytes"
        answer = read_answer(s)
        assert answer.startswith(b"HTTP/1.1 "), (path, answer[:200])
        taken = 0
        try:
            while taken < SENT:
                s.sendall(piece)
                taken += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _status(answer), answer, taken
    finally:
        s.close()


def read_answer(s: socket.socket) -> bytes:
    """An HTTP answer's head and body (by its Content-Length) from ``s``."""
    s.settimeout(30)
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            more = s.recv(65536)
            if not more:
                return answer
            answer += more
        head, _, body = answer.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            more = s.recv(65536)
            if not more:
                break
            body += more
        return head + b"\r\n\r\n" + body
    except ConnectionResetError:
        return answer


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/PID/status")


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def files_in(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def server(tmp_path_factory, isp_split):
    root = tmp_path_factory.mktemp("bodies")
    tmpdir = root / "system-tmp"
    tmpdir.mkdir()
    srv = start(root / "data", free_port(), env={"TMPDIR": str(tmpdir)}, log=root / "server.log")
    srv.tmpdir, srv.log_path = tmpdir, root / "server.log"
    d = challenge_def("b1", isp_split)  # 1 MB per model file
    r = httpx.post(f"{srv.url}/api/challenges", headers=srv.auth("organiser"), json=d)
    assert r.status_code == 201, r.text
    yield srv
    stop(srv)


def test_bodies_are_refused_at_once_before_they_are_read_and_nothing_grows(server):
    port = server.port
    upload = "/api/challenges/b1/phases/validation/submissions"
    page = "/challenges/b1/phases/validation/submit"
    form = "multipart/form-data; boundary=xyz"
    httpx.get(f"{server.url}/api/challenges/b1/phases/validation/leaderboard")  # warm: the first requests' imports
    rss0, files0, tmp0 = peak_rss_kb(server.proc.pid), files_in(server.data_dir / "files"), folder_bytes(server.tmpdir)
    cases = [
        # (method, path, headers, claimed, expected status, a word of the answer)
        ("POST", "/api/jobs/1/log", {"Authorization": "Bearer junk"}, CLAIMED, 413, b"limit of 1000000 bytes"),
        ("POST", "/api/jobs/1/log", {"Authorization": "Bearer junk"}, 900_000, 409, b"lease is not current"),
        ("POST", "/api/jobs/9223372036854775807/log", {"Authorization": "Bearer junk"}, 900_000, 422, b"job_id"),
        ("POST", "/api/jobs/1/result", {"Authorization": "Bearer junk", "Content-Type": "application/json"}, 60_000_000,
         409, b"lease is not current"),
        ("POST", "/api/auth/token", {"Content-Type": "application/json"}, CLAIMED, 413, b"limit of 16000 bytes"),
        ("POST", upload, {"Authorization": "Bearer junk", "Content-Type": form}, CLAIMED, 401, b"token"),
        ("POST", upload, {"Content-Type": form}, CLAIMED, 401, b"token"),
        ("POST", upload, {"Authorization": "Bearer junk", "Content-Type": form}, 3_000_000, 401, b"token"),
        ("POST", upload, {**server.auth("alice"), "Content-Type": form}, CLAIMED, 413, b"cap of 1 MB"),
        ("POST", page, {"Cookie": "mai_session=junk", "Content-Type": form}, CLAIMED, 401, b"sign in"),
        ("POST", page, {"Cookie": f"mai_session={server.tokens['alice_cookie']}", "Content-Type": form}, CLAIMED, 413,
         b"cap of 1 MB"),
        ("POST", "/api/challenges", {**server.auth("organiser"), "Content-Type": "application/json"}, CLAIMED, 413, b"limit"),
        ("POST", "/api/workers/claim", {**server.auth("worker"), "Content-Type": "application/json"}, CLAIMED, 413, b"limit"),
    ]
    for method, path, headers, claimed, want, word in cases:
        status, answer, taken = hostile(port, method, path, headers, claimed=claimed)
        assert status == want, (path, headers, answer[:300])
        assert word in answer, (path, answer[:300])
        assert b"connection: close" in answer.lower(), (path, "the connection is left open to drain the body")
        assert taken < SENT, (path, f"the server went on reading the body after its answer ({taken} bytes)")
    # a body without a length is counted as it arrives: over the limit, 413 and no more is read
    status, answer, taken = hostile(port, "POST", "/api/auth/token", {"Content-Type": "application/json"}, chunked=True)
    assert status == 413 and taken < SENT, answer[:300]
    part = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.tflite\"\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"POST {upload} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.tokens['alice']}\r\n"
               f"Content-Type: {form}\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + b"%x\r\n%s\r\n" % (len(part), part))
    block = b"\0" * 65536
    for _ in range(40):  # 2.6 MB of one file part: over the 1 MB cap while it streams
        if select.select([s], [], [], 0)[0]:
            break
        try:
            s.sendall(b"%x\r\n%s\r\n" % (len(block), block))
        except (BrokenPipeError, ConnectionResetError):
            break
    assert select.select([s], [], [], 60)[0]
    answer = read_answer(s)
    s.close()
    assert _status(answer) == 413 and b"runtime file larger than the challenge's cap of 1 MB" in answer, answer[:300]

    # a body that is not a form, or a form with a field the upload does not take: 422 with the reason
    for content, why in ((b"--xyz\r\nbad header line\r\n\r\n", "not a readable multipart/form-data body"),
                         (b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--xyz--\r\n",
                          "a field 'other' this upload does not take")):
        r = httpx.post(f"{server.url}{upload}", headers={**server.auth("alice"), "Content-Type": form}, content=content)
        assert r.status_code == 422 and why in r.json()["detail"], r.text

    assert httpx.get(f"{server.url}/api/health").json()["status"] == "ok"
    grown_mb = (peak_rss_kb(server.proc.pid) - rss0) / 1000
    assert grown_mb < 40, f"the server's peak memory grew by {grown_mb:.0f} MB"
    assert files_in(server.data_dir / "files") == files0  # nothing kept, nothing left half-written
    assert folder_bytes(server.tmpdir) == tmp0 == 0  # nothing spooled to the system's temporary folder
    assert httpx.get(f"{server.url}/api/challenges/b1/phases/validation/quota", headers=server.auth("alice")).json()[
        "used_total"] == 0


# The routes whose JSON body FastAPI parses before it solves their dependencies (issue 31 item 1),
# and what each asks of its caller: written out here, so a new route of that kind shows up.
PARSED_BODY_ROUTES = {
    ("POST", "/api/users"): ("user", "organiser"),
    ("PATCH", "/api/users/{username}"): ("user", "organiser"),
    ("POST", "/api/worker-tokens"): ("user", "organiser"),
    ("POST", "/api/workers/register"): ("worker",),
    ("POST", "/api/workers/{worker_id}/health"): ("worker",),
    ("POST", "/api/workers/claim"): ("worker",),
}


def test_every_route_with_a_parsed_body_and_a_credential_is_guarded_before_its_body():
    from maikit.server.api.credentials import guarded_routes, requirements
    from maikit.server.api.routes import bundles, challenges, health, jobs, leaderboard, submissions, users, workers

    routes = [r for mod in (health, users, challenges, submissions, leaderboard, workers, jobs, bundles)
              for r in mod.router.routes]
    found = {(m, r.path): requirements(r) for r in guarded_routes(routes) for m in r.methods}
    assert found == PARSED_BODY_ROUTES


def test_credentials_are_refused_before_a_parsed_body_is_read(server):
    """A junk, missing or wrong kind of token with a body that claims 1,000 MB (or 60 kB, under
    the route's limit) and sends 4 kB: 401 or 403 at once with the route's reason, the connection
    closed and the rest of the body unsent (before: the body was read and parsed first, or a
    413 for its length, whoever sent it)."""
    port = server.port
    paths = {"/api/users/{username}": "/api/users/bob", "/api/workers/{worker_id}/health": "/api/workers/1/health"}
    json_type = {"Content-Type": "application/json"}
    rss0 = peak_rss_kb(server.proc.pid)
    for (method, route), needs in PARSED_BODY_ROUTES.items():
        need = needs[-1]
        path = paths.get(route, route)
        wrong = ({"Authorization": f"Bearer {server.tokens['alice']}"}, 403,
                 b"organisers only") if need == "organiser" else (server.auth("alice"), 403, b"not a user token")
        cases = [({}, 401, b"token is needed"), ({"Authorization": "Bearer junk"}, 401, b"invalid or revoked token"),
                 ({"Authorization": "Basic b3JnYW5pc2VyOm9yZy1wYXNz"}, 401, b"token is needed"), wrong]
        if need == "organiser":
            cases.append((server.auth("worker"), 403, b"a worker token cannot act as a user"))
        for headers, want, word in cases:
            for claimed in (CLAIMED, 60_000):
                status, answer, taken = hostile(port, method, path, {**headers, **json_type}, claimed=claimed, first=4096)
                assert status == want, (method, path, headers, claimed, answer[:300])
                assert word in answer, (method, path, answer[:300])
                assert b"connection: close" in answer.lower(), (path, "the connection is left open to drain the body")
                assert taken < SENT, (path, f"the server went on reading the body after its answer ({taken} bytes)")
                if want == 401:
                    assert b"www-authenticate: bearer" in answer.lower(), answer[:300]
    # the body is read only for the right caller: then its limit (413) and its parsing (422) as before
    status, answer, _ = hostile(port, "POST", "/api/workers/claim", {**server.auth("worker"), **json_type}, first=4096)
    assert status == 413 and b"limit of 64000 bytes" in answer, answer[:300]
    r = httpx.post(f"{server.url}/api/workers/register", headers=server.auth("worker"), content=b"{not json")
    assert r.status_code == 422, r.text
    r = httpx.patch(f"{server.url}/api/users/bob", headers=server.auth("organiser"), json={"role": "nobody"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "role"], r.text
    r = httpx.post(f"{server.url}/api/workers/register", headers=server.auth("worker"),
                   json={"name": "w-bodies", "roles": ["fidelity"], "device_tag": "cpu"})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{server.url}/api/workers/claim", headers=server.auth("worker"),
                   json={"worker_id": r.json()["worker_id"], "wait_s": 0})
    assert r.status_code in (200, 204), r.text
    r = httpx.post(f"{server.url}/api/worker-tokens", headers=server.auth("organiser"), json={"device_tag": "cpu"})
    assert r.status_code == 201 and r.json()["token"], r.text
    grown_mb = (peak_rss_kb(server.proc.pid) - rss0) / 1000
    assert grown_mb < 40, f"the server's peak memory grew by {grown_mb:.0f} MB"
    assert "Traceback" not in server.log_path.read_text()


def test_an_upload_store_that_cannot_take_the_file_answers_507_and_keeps_nothing(engine_name, request, tmp_path, isp_split,
                                                                                tiny_models):
    """The server process may write no file over 2 MB (RLIMIT_FSIZE; a full or read-only disk
    fails the same write with ENOSPC or EROFS): a 3 MB upload, junk or not, is 507 with the
    reason, no file kept, no row, no quota used; a small upload still goes through."""
    settings = {"db_url": request.getfixturevalue("pg_database")} if engine_name == "postgresql" else {}
    srv = start(tmp_path / "data", free_port(), settings, rlimits={resource.RLIMIT_FSIZE: 2_000_000},
                log=tmp_path / "server.log")
    try:
        d = challenge_def("s1", isp_split)
        d["upload_cap_mb"] = 4
        assert httpx.post(f"{srv.url}/api/challenges", headers=srv.auth("organiser"), json=d).status_code == 201
        url = f"{srv.url}/api/challenges/s1/phases/validation/submissions"
        model = (tiny_models["isp"] / "model.tflite").read_bytes()
        for name, data in (("junk", b"not a model" * 300_000), ("padded model", model + b"\0" * 3_000_000)):
            r = httpx.post(url, headers=srv.auth("alice"), files={"file": ("m.tflite", data)}, timeout=120)
            assert r.status_code == 507, (name, r.status_code, r.text)
            assert r.json()["detail"].startswith("the server cannot store uploads right now"), r.text
        assert files_in(srv.data_dir / "files") == []  # nothing half-written, not even in files/tmp
        assert httpx.get(url, headers=srv.auth("alice")).json() == []  # no submission row
        quota = httpx.get(f"{srv.url}/api/challenges/s1/phases/validation/quota", headers=srv.auth("alice")).json()
        assert (quota["used_today"], quota["used_total"]) == (0, 0)
        r = httpx.post(url, headers=srv.auth("alice"), files={"file": ("m.tflite", model)}, timeout=120)
        assert r.status_code == 201, r.text
    finally:
        stop(srv)
    assert "Traceback" not in (tmp_path / "server.log").read_text()
