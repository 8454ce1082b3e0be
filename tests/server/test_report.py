"""``mai challenge report`` reproduces each report's Table 1 (SQLite and PostgreSQL).

Each published row is loaded as a finished submission through a real server: its team and
author as the account, a runtime file of the printed model size (a tiny model padded to it),
the printed fidelity metrics and runtime posted by a worker played by the test (the server
computes the score), and a factsheet with the printed framework (for the depth report, its
Appendix A entries). The generated table is then compared with the printed one cell by cell,
each number to the digits the report prints, with the row order and the Pareto marks, and the
generated Appendix A with the printed one.

Two places where the platform cannot print what the reports print, said here rather than
hidden: the depth report lists a team's second submission as its own row ("Tencent GY-Lab*"),
while a phase ranks one row per participant or team, so that row is loaded as a second account
(``Parkzyzhang-2``); and the depth report lists JMU-CVLab (score 36) above ICL (score 42),
against its own printed scores, so the phase, which ranks by score, puts ICL first.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from bundle_testing import factsheet, finish, register_worker
from platform_testing import challenge_def, start_live, stop_live
from typer.testing import CliRunner

from maikit.cli import app
from maikit.scoring.paper import paper_rows
from maikit.server.services.users import create_user, issue_user_token

BOARD = {"isp": [("psnr", 2), ("ssim", 4)], "depth": [("si_rmse", 4), ("rmse", 2), ("log10", 4), ("rel", 4)]}
SECOND_ACCOUNT = {"tencent_star": "Parkzyzhang-2"}
# Pareto fronts of fidelity against runtime, worked out by hand from the printed numbers
FRONT = {"isp": {"dh.isp", "AIISP", "Tuned U-Net"}, "depth": {"TCL", "AIIA HIT"}}
# the depth report's Appendix A, as printed (title, members, affiliations)
APPENDIX = {
    "TCL": ("Simplified UNET Architecture For Fast Depth Estimation on Edge Devices",
            [("Lukasz Treszczotko", "lukasz.treszczotko@tcl.com"), "Xin Chang", "Piotr Ksiazek", "Michal Lopuszynski",
             "Maciej Pioro", "Rafal Rudnicki", "Maciej Smyl", "Yujie Ma"], ["TCL Research Europe, Warsaw, Poland"]),
    "AIIA HIT": ("Towards Fast and Accurate Depth Estimation on Mobile Devices",
                 [("Zhenyu Li", "zhenyuli17@hit.edu.cn"), "Zehui Chen", "Jialei Xu", "Xianming Liu", "Junjun Jiang"],
                 ["Harbin Institute of Technology, China"]),
    "MiAIgo": ("SL-Depth : A Superior Lightweight Model for Monocular Depth Estimation on Mobile Devices",
               [("XueChao Shi", "shixuechao@xiaomi.com"), "Difan Xu", "Yanan Li", "Xiaotao Wang", "Lei Lei"],
               ["Xiaomi Inc., China"]),
    "Tencent GY-Lab": ("A Simple Baseline for Fast and Accurate Depth Estimation on Mobile Devices",
                       [("Ziyu Zhang", "parkzyzhang@tencent.com"), "Yicheng Wang", "Zilong Huang", "Guozhong Luo", "Gang Yu",
                        "Bin Fu"], ["Tencent GY-Lab, China"]),
    "SmartLab": ("Fast and Accurate Monocular Depth Estimation via Knowledge Distillation",
                 [("Jiaqi Li", "lijiaqi_mail@hust.edu.cn"), "Yiran Wang", "Zihao Huang", "Zhiguo Cao"],
                 ["National Key Laboratory of Science and Technology on Multi-Spectral Information Processing, School of "
                  "Artificial Intelligence and Automation, Huazhong University of Science and Technology, China"]),
    "JMU-CVLab": ("MobileNetV3 FastDepth", [("Marcos V. Conde", "marcos.conde-osorio@uni-wuerzburg.de"), "Denis Sapozhnikov"],
                  ["University of Wuerzburg, Germany"]),
    "ICL": ("Monocular Depth Estimation Using a Simple Network",
            [("Byeong Hyun Lee", "ldlqudgus756@snu.ac.kr"), "Dongwon Park", "Seongmin Hong", "Joonhee Lee", "Seunggyu Lee",
             "Se Young Chun"], ["Department of Electrical and Computer Engineering, Seoul National University, South Korea"]),
}


def _sheet(row) -> dict:
    entry = APPENDIX.get(row.team.rstrip("*").strip()) if row.task == "depth" else None
    if entry is None:
        return factsheet(row.team.rstrip("* "), framework=row.framework)
    title, members, affs = entry
    people = [{"name": m[0], "email": m[1]} if isinstance(m, tuple) else {"name": m} for m in members]
    return factsheet(row.team.rstrip("*").strip(), title=title, members=people, affiliations=affs, framework=row.framework)


def _expected_order(task: str) -> list:
    rows = paper_rows(task)
    if task == "depth":  # the report lists JMU-CVLab above ICL against its own scores: the phase ranks by score
        i, j = [r.key for r in rows].index("jmu"), [r.key for r in rows].index("icl")
        rows[i], rows[j] = rows[j], rows[i]
    return rows


def _load(live, task: str, model: Path, tmp: Path) -> None:
    """Every printed row of ``task`` as a finished submission with its factsheet."""
    d = challenge_def(f"paper-{task}", tmp / "reference")  # no fidelity job runs on it: the test answers them
    d["task"] = task
    d["protocol"]["input_shape"] = [1, 16, 16, 4 if task == "isp" else 3]  # the tiny models' shape
    d["title"] = {"isp": "MAI 2021 Learned Smartphone ISP", "depth": "MAI 2022 Monocular Depth Estimation"}[task]
    d["upload_cap_mb"] = 14
    d["leaderboard"] = ([{"key": k, "title": k, "sort": "desc" if task == "isp" else "asc", "precision": p} for k, p in BOARD[task]]
                        + [{"key": "runtime_ms", "title": "Runtime", "sort": "asc", "precision": 1},
                           {"key": "score", "title": "Score", "sort": "desc", "precision": 2}])
    d["phases"][1]["bundle"] = {"factsheet": "optional"}
    live.create_challenge(d)
    p, base = live.platform, model.read_bytes()
    worker = register_worker(live)
    results = {}
    for i, row in enumerate(paper_rows(task)):
        author = SECOND_ACCOUNT.get(row.key, row.author)
        with p.db.write() as s, s.begin():
            u = create_user(s, username=author, role="participant", password=None, team=row.team, now=p.now())
            live.tokens[author] = issue_user_token(s, u, p.now())
        padded = tmp / f"{row.key}.tflite"
        padded.write_bytes(base + bytes(round(row.size_kb * 1000) - len(base)))
        files = {"file": ("model.tflite", padded.read_bytes(), "application/octet-stream")}
        if i == 0:  # one factsheet sent with the upload, the others saved on their own
            files["factsheet_file"] = ("factsheet.json", json.dumps(_sheet(row)).encode(), "application/json")
        r = live.post(f"/api/challenges/paper-{task}/phases/testing/submissions", author, files=files)
        assert r.status_code == 201, r.text
        padded.unlink()
        if i:
            put = live.http.put(f"/api/challenges/paper-{task}/phases/testing/factsheet", headers=live.auth(author),
                                json=_sheet(row))
            assert put.status_code == 200, put.text
        fidelity = {**row.metrics, "images": 2} | ({"ms_ssim": None} if task == "isp" else {})
        results[r.json()["id"]] = (fidelity, {"avg_ms": row.runtime_ms})
    finish(live, worker, results)


def _md_table(text: str) -> list[list[str]]:
    lines = text.split("\nTable 1. ", 1)[1].splitlines()
    table = [ln for ln in lines[1:] if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in table[2:]]


def _digits(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def _same_number(cell: str, printed: str) -> bool:
    return round(float(cell), _digits(printed)) == float(printed)


@pytest.mark.parametrize("task", ["isp", "depth"])
def test_the_generated_table_1_is_the_printed_one(task, engine_name, request, tmp_path, tiny_models):
    url = request.getfixturevalue("pg_database") if engine_name == "postgresql" else None
    live = start_live(tmp_path / "server", url)
    try:
        _load(live, task, tiny_models[task] / "model.tflite", tmp_path)
        out = tmp_path / "report"
        r = CliRunner().invoke(app, ["challenge", "report", f"paper-{task}", "--db", live.platform.settings.database_url,
                                     "--out", str(out), "--json"])
        assert r.exit_code == 0, r.output
        via_api = tmp_path / "via-api"
        r2 = CliRunner().invoke(app, ["challenge", "report", f"paper-{task}", "--server", live.url, "--token",
                                      live.tokens["organiser"], "--out", str(via_api), "--no-figure"])
        assert r2.exit_code == 0, r2.output
    finally:
        stop_live(live)
    md = (out / "results.md").read_text()
    # the API and the database give the same data, hence the same section
    assert (via_api / "report.json").read_text() == (out / "report.json").read_text()
    assert _md_table((via_api / "results.md").read_text()) == _md_table(md)

    expected = _expected_order(task)
    table = _md_table(md)
    assert len(table) == len(expected)
    metric_keys = [k for k, _p in BOARD[task]]
    for cells, row in zip(table, expected):
        team, author, framework, size, *numbers = cells
        assert team.removesuffix(" †") == row.team
        assert team.endswith(" †") == (row.team in FRONT[task]), team
        assert author == SECOND_ACCOUNT.get(row.key, row.author)
        assert framework == row.framework
        assert _same_number(size, row.printed["size"]), (row.team, size, row.printed["size"])
        printed = [row.printed[k] for k in metric_keys] + [row.printed["runtime_ms"], row.score_text]
        assert len(numbers) == len(printed)
        for cell, want in zip(numbers, printed):
            assert _same_number(cell, want), (row.team, cells, printed)

    # LaTeX: the same rows, escaped, the same marks
    tex = (out / "results.tex").read_text()
    body = tex.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0].strip().splitlines()
    assert len(body) == len(expected)
    for line, cells in zip(body, table):
        tex_cells = [c.strip() for c in line.removesuffix(r" \\").split(" & ")]
        assert tex_cells[0].endswith(r"$^\dagger$") == cells[0].endswith(" †")
        assert tex_cells[4:] == cells[4:]

    # the figure: every team labelled, the front drawn; a PDF beside it
    svg = ET.parse(out / "figure.svg").getroot()
    texts = {"".join(t.itertext()).strip() for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert {row.team for row in expected} <= texts
    assert any(el.get("id") == "pareto-front" for el in svg.iter())
    assert (out / "figure.pdf").read_bytes()[:5] == b"%PDF-"

    # one subsection per team, and Appendix A as printed
    methods = md.split("## Challenge Methods", 1)[1].split("## Appendix A", 1)[0]
    assert [ln[4:].split(". ", 1)[1] for ln in methods.splitlines() if ln.startswith("### ")] == [r.team for r in expected]
    if task == "depth":
        appendix = md.split("## Appendix A. Teams and Affiliations", 1)[1]
        for team, (title, members, affs) in APPENDIX.items():
            entry = appendix.split(f"### {team}\n", 1)[1].split("\n### ", 1)[0]
            printed_members = ", ".join(f"{m[0]} ({m[1]})" if isinstance(m, tuple) else m for m in members)
            assert f"**Title:**\n{title}\n" in entry and f"**Members:**\n{printed_members}\n" in entry
            assert f"**Affiliations:**\n{affs[0]}" in entry


def test_report_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(app, ["challenge", "report", "x", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "give one of --db, --data-dir" in r.output
    r = CliRunner().invoke(app, ["challenge", "report", "x", "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path)])
    assert r.exit_code == 1 and "no platform.db in this folder" in r.output
    (tmp_path / "other.db").write_bytes(b"")
    r = CliRunner().invoke(app, ["challenge", "report", "x", "--out", str(tmp_path / "o"), "--db",
                                 f"sqlite:///{tmp_path / 'other.db'}"])
    assert r.exit_code == 1 and "is it a maikit database at the newest schema" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("teams, words", [(0, "No team is ranked"), (1, "1 team is ranked"), (2, "2 teams are ranked")])
def test_the_report_counts_its_teams_in_words(tmp_path, teams, words):
    """"1 teams are ranked in the Testing phase" was printed for a phase with one team."""
    from maikit.report import write_report

    rows = [{"rank": i + 1, "team": f"T{i}", "author": f"a{i}", "submission_id": i + 1, "size_bytes": 1000,
             "metrics": {"psnr": 20.0 - i, "ssim": 0.8}, "runtime_ms": 100.0 + i, "score": 20.0 - i, "pareto": True,
             "code": False, "factsheet": None} for i in range(teams)]
    data = {"challenge": {"slug": "c", "title": "C", "task": "isp"},
            "phase": {"slug": "testing", "title": "Testing", "kind": "test", "ranking": "best", "published": True},
            "columns": [{"key": "psnr", "title": "PSNR", "sort": "desc", "precision": 2},
                        {"key": "score", "title": "Final Score", "sort": "desc", "precision": 2}], "rows": rows}
    written = write_report(data, tmp_path, figure=False)
    assert f"\n{words} in the Testing phase. Table 1 reports" in written["results.md"].read_text()
    assert f"\n{words} in the Testing phase. Table~\\ref{{tab:results}} reports" in written["results.tex"].read_text()
