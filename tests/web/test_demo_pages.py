"""``mai serve --demo`` in a browser: the demo's baseline submissions reach its leaderboard
and scatter through the normal pipeline."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from _fixtures import stop_group
from _web import free_port, screenshot, wait_for

pytestmark = pytest.mark.slow


def test_demo_leaderboard_is_populated(new_page, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = subprocess.Popen([sys.executable, "-m", "maikit", "serve", "--demo", "--data-dir", str(tmp_path / "srv"),
                               "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)
    try:
        def rows():
            try:
                r = httpx.get(f"{url}/api/challenges/demo-isp/phases/validation/leaderboard", timeout=5)
            except httpx.HTTPError:
                assert server.poll() is None, log.read_text()[-3000:]
                return None
            return r.json()["rows"] if r.status_code == 200 and len(r.json()["rows"]) >= 2 else None

        board = wait_for(rows, 900, 1.0, "the demo's seeded leaderboard")
        assert {r["team"] for r in board} == {"Baseline A", "Baseline B"}
        page = new_page()
        page.goto(f"{url}/")
        page.get_by_role("link", name="Learned smartphone ISP (demo)").click()
        page.get_by_role("link", name="Leaderboard").first.click()
        assert page.locator("#board tbody tr").count() == 2
        assert page.locator("#scatter a.point").count() == 2
        assert page.locator("#board tbody tr.pareto").count() >= 1
        screenshot(page, tmp_path, "demo-leaderboard")

        def runtimes():
            return [float(t) for t in page.locator("#board tbody tr td:nth-child(7)").all_inner_texts()]

        page.get_by_role("link", name="Runtime, ms").click()  # the column's own order: ascending
        assert runtimes() == sorted(runtimes())
        page.get_by_role("link", name="Runtime, ms ▲").click()
        assert runtimes() == sorted(runtimes(), reverse=True)
    finally:
        stop_group(server)
