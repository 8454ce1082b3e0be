"""Helpers of the kit, bundle and report tests: a worker played by the test over the real job
API (so a submission finishes with the metrics and runtime the test chooses, scored by the
server), factsheets, and small archives."""

from __future__ import annotations

import io
import zipfile

from platform_testing import Live


def factsheet(team: str, **over) -> dict:
    sheet = {"team": team, "title": f"{team}'s method", "members": [{"name": "Ada Lovelace", "email": "ada@example.org"},
                                                                     {"name": "Alan Turing"}],
             "affiliations": ["Analytical Engines Ltd, London"], "description": "Three convolutions and a **pixel shuffle**.",
             "framework": "PyTorch / TensorFlow", "training_data": "the training split, random flips",
             "training_time": "2 hours on one GPU"}
    sheet.update(over)
    return sheet


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def register_worker(live: Live, name: str = "played-by-the-test") -> int:
    r = live.http.post("/api/workers/register", headers=live.auth("worker"),
                       json={"name": name, "roles": ["fidelity", "runtime"], "device_tag": "litert-cpu"})
    assert r.status_code == 201, r.text
    return r.json()["worker_id"]


def finish(live: Live, worker_id: int, results: dict[int, tuple[dict, dict]]) -> None:
    """Claim every queued job of the submissions in ``results`` and answer it with the chosen
    ``(fidelity result, runtime result)``, as a worker would; the server scores each."""
    todo = {(sid, role) for sid in results for role in ("fidelity", "runtime")}
    while todo:
        r = live.http.post("/api/workers/claim", headers=live.auth("worker"), json={"worker_id": worker_id, "wait_s": 5})
        assert r.status_code == 200, f"no job to claim while {sorted(todo)} wait ({r.status_code})"
        job = r.json()
        key = (job["submission_id"], job["role"])
        assert key in todo, f"claimed an unexpected job {key}"
        body = results[key[0]][0 if job["role"] == "fidelity" else 1]
        done = live.http.post(f"/api/jobs/{job['job_id']}/result", headers={"Authorization": f"Bearer {job['lease_token']}"},
                              json={"ok": True, "result": body})
        assert done.status_code == 200, done.text
        todo.discard(key)
