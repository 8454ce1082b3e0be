"""The results section as Markdown (``results.md``)."""

from __future__ import annotations

import re

from maikit.report.table import Table


def ranked_teams(n: int) -> str:
    """"1 team is ranked", "3 teams are ranked", "No team is ranked"."""
    return "No team is ranked" if n == 0 else f"{n} team is ranked" if n == 1 else f"{n} teams are ranked"

ARROWS = {"up": " ↑", "down": " ↓", "": ""}
PARETO_MARK = "†"


def _cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _inline(text: str) -> str:
    """A factsheet's one-line field as Markdown text (no line breaks, no table pipes)."""
    return " ".join(str(text).split())


def table_markdown(table: Table) -> list[str]:
    head = [c.title + ARROWS[c.arrow] for c in table.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if c.numeric else "---" for c in table.columns) + "|"]
    for row, on in zip(table.rows, table.pareto):
        cells = [_cell(v) for v in row]
        if on:
            cells[0] += f" {PARETO_MARK}"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def caption(data: dict, table: Table) -> str:
    c, ph = data["challenge"], data["phase"]
    better = "higher" if table.higher_is_better else "lower"
    return (f"Table 1. {c['title']}: results and final rankings of the {ph.get('title') or ph['slug']} phase "
            f"(ranking: {ph.get('ranking', 'best')}). Model size: the submitted TFLite file. "
            f"{PARETO_MARK} marks the Pareto front of {table.primary_title} ({better} is better) against runtime: "
            "no other solution is at least as good in both and better in one.")


def members_line(sheet: dict) -> str:
    """Appendix A's members: the contact with their e-mail, affiliation numbers when there are
    several affiliations."""
    many = len(sheet.get("affiliations") or []) > 1
    out = []
    for m in sheet.get("members") or []:
        s = _inline(m["name"])
        if many:
            s += "<sup>" + ",".join(str(a) for a in (m.get("affiliations") or [1])) + "</sup>"
        if m.get("email"):
            s += f" ({m['email']})"
        out.append(s)
    return ", ".join(out)


def affiliations_lines(sheet: dict) -> list[str]:
    affs = sheet.get("affiliations") or []
    if len(affs) > 1:
        return [f"{i}. {_inline(a)}" for i, a in enumerate(affs, 1)]
    return [_inline(a) for a in affs]


def _demote(markdown: str, by: int = 3) -> str:
    """A participant's description under the team's heading: its own headings demoted."""
    return re.sub(r"^(#{1,6})(?=\s)", lambda m: "#" * min(6, len(m.group(1)) + by), markdown, flags=re.M)


def markdown_section(data: dict, table: Table, figure: bool) -> str:
    c, ph = data["challenge"], data["phase"]
    lines = [f"# {c['title']}: results", "", "## Challenge Results", "",
             f"{ranked_teams(len(table.rows))} in the {ph.get('title') or ph['slug']} phase. Table 1 reports "
             f"the fidelity and runtime of each team's solution, the proposed methods are described in Challenge Methods, "
             "and the team members and affiliations are listed in Appendix A.", "", caption(data, table), ""]
    lines += table_markdown(table) + [""]
    if figure:
        lines += [f"![{table.primary_title} against runtime](figure.svg)", "",
                  f"Figure 1. {table.primary_title} against runtime (ms) of the solutions in Table 1; the line joins the "
                  "Pareto front.", ""]
    lines += ["## Challenge Methods", "",
              f"This section describes the solutions submitted by the teams of the {ph.get('title') or ph['slug']} phase, "
              "from their factsheets.", ""]
    for i, r in enumerate(data["rows"], 1):
        sheet = r.get("factsheet")
        lines += [f"### {i}. {_inline(r['team'])}", ""]
        if not sheet:
            lines += ["No factsheet was submitted.", ""]
            continue
        lines += [f"**{_inline(sheet['title'])}**", "", _demote(sheet["description"].strip()), ""]
        facts = [("Framework", sheet.get("framework")), ("Training data", sheet.get("training_data")),
                 ("Training time", sheet.get("training_time")), ("Model size (as stated)", sheet.get("model_size"))]
        lines += [f"- {k}: {_inline(v)}" for k, v in facts if v]
        for link in sheet.get("links") or []:
            lines.append(f"- {_inline(link.get('title') or 'Link')}: <{link['url']}>")
        lines.append("")
    lines += ["## Appendix A. Teams and Affiliations", ""]
    for r in data["rows"]:
        sheet = r.get("factsheet")
        lines += [f"### {_inline(r['team'])}", ""]
        if not sheet:
            lines += ["No factsheet was submitted.", ""]
            continue
        lines += ["**Title:**", _inline(sheet["title"]), "", "**Members:**", members_line(sheet), "", "**Affiliations:**",
                  *affiliations_lines(sheet), ""]
    return "\n".join(lines)
