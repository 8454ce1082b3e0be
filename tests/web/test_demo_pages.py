"""The demo's live challenge in a browser: the platform `mai demo` leaves behind, served by the
one command it prints (``mai serve --demo --data-dir DEMO/platform``), shows the trained
baselines of both tasks on its boards and scatters, the published rows beside them."""

from __future__ import annotations

import shlex
import subprocess
import sys

import httpx
import pytest
from _fixtures import stop_group
from _web import free_port, screenshot, wait_for

pytestmark = pytest.mark.slow


def test_demo_leaderboard_is_populated(new_page, tmp_path, quick_demo):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    argv = shlex.split(quick_demo["platform"]["command"])
    assert argv[:3] == ["mai", "serve", "--demo"]
    server = subprocess.Popen([sys.executable, "-m", "maikit", *argv[1:], "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)
    try:
        def rows():
            try:
                r = httpx.get(f"{url}/api/challenges/demo-isp/phases/validation/leaderboard", timeout=5)
            except httpx.HTTPError:
                assert server.poll() is None, log.read_text()[-3000:]
                return None
            return r.json()["rows"] if r.status_code == 200 and len(r.json()["rows"]) >= 2 else None

        board = wait_for(rows, 300, 1.0, "the demo's leaderboard")
        assert {r["team"] for r in board} == {"Baseline FP32", "Baseline INT8"}
        page = new_page()
        for title in ("Monocular depth estimation (demo)", "Learned smartphone ISP (demo)"):
            page.goto(f"{url}/")
            page.get_by_role("link", name=title).click()
            assert "trained weights, not random ones" in page.content()
            page.get_by_role("link", name="Leaderboard").first.click()
            assert page.locator("#board tbody tr").count() == 2
            names = page.locator("#board tbody td.team").evaluate_all("tds => tds.map(t => t.firstChild.textContent.trim())")
            assert sorted(names) == ["Baseline FP32", "Baseline INT8"]  # (the marks, tie and flagged, follow the name)
            assert page.locator("#scatter a.point").count() == 2
            assert page.locator("#board tbody tr.pareto").count() >= 1
            assert page.locator("details.paper tbody tr").count() == (10 if "ISP" in title else 8)
            screenshot(page, tmp_path, f"demo-leaderboard-{'isp' if 'ISP' in title else 'depth'}")

        def runtimes():
            # the cell's first line is the runtime, its 95 % interval under it
            return [float(t.splitlines()[0]) for t in page.locator("#board tbody tr td:nth-child(7)").all_inner_texts()]

        page.get_by_role("link", name="Runtime, ms").click()  # the column's own order: ascending
        assert runtimes() == sorted(runtimes())
        page.get_by_role("link", name="Runtime, ms ▲").click()
        assert runtimes() == sorted(runtimes(), reverse=True)
    finally:
        stop_group(server)
