"""The results section as LaTeX (``results.tex``): a fragment to ``\\input`` into the report,
needing the ``booktabs``, ``graphicx`` and ``hyperref`` packages.

Everything a team wrote is escaped (no command of theirs reaches the organiser's TeX run); a
factsheet's Markdown description keeps its paragraphs, bullet and numbered lists, emphasis,
bold, inline code and links, and loses the rest of its markup to plain text.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from maikit.report.markdown import caption, ranked_teams
from maikit.report.table import Table

_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "^": r"\textasciicircum{}",
            "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}", "<": r"\textless{}", ">": r"\textgreater{}",
            "|": r"\textbar{}", "†": r"$^\dagger$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "—": "---"}
ARROWS = {"up": r" $\uparrow$", "down": r" $\downarrow$", "": ""}


def esc(text: str) -> str:
    """``text`` as LaTeX text: every special character escaped, whitespace as single spaces."""
    return "".join(_SPECIAL.get(ch, ch) for ch in re.sub(r"\s+", " ", str(text)))


def url(address: str) -> str:
    """An http(s) address for ``\\href``: characters TeX or the address could trip on are
    percent-encoded, and %, # escaped as hyperref wants them."""
    safe = quote(address, safe="/:?=&@+,;!*'()[]-._%#")
    return safe.replace("\\", "%5C").replace("%", r"\%").replace("#", r"\#").replace("&", r"\&")


_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|\*(.+?)\*|(?<!\w)_(.+?)_(?!\w)|\[([^\]]+)\]\((https?://[^)\s]+)\)")


def _inline(text: str) -> str:
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(esc(text[pos:m.start()]))
        code, bold, bold2, em, em2, label, link = m.groups()
        if code is not None:
            out.append(r"\texttt{" + esc(code) + "}")
        elif bold is not None or bold2 is not None:
            out.append(r"\textbf{" + _inline(bold or bold2) + "}")
        elif em is not None or em2 is not None:
            out.append(r"\emph{" + _inline(em or em2) + "}")
        else:
            out.append(r"\href{" + url(link) + "}{" + _inline(label) + "}")
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out).strip()


def markdown_to_latex(markdown: str) -> str:
    r"""A factsheet description: paragraphs, ``-``/``*`` and ``1.`` lists, headings (as
    ``\paragraph``), inline markup."""
    blocks, para, items, kind = [], [], [], None

    def flush():
        nonlocal para, items, kind
        if para:
            blocks.append(_inline(" ".join(para)))
        if items:
            env = "itemize" if kind == "ul" else "enumerate"
            blocks.append(f"\\begin{{{env}}}\n" + "\n".join(r"  \item " + _inline(i) for i in items) + f"\n\\end{{{env}}}")
        para, items, kind = [], [], None

    for line in markdown.splitlines():
        stripped = line.strip()
        bullet = re.match(r"^[-*+]\s+(.*)$", stripped)
        number = re.match(r"^\d+[.)]\s+(.*)$", stripped)
        if not stripped:
            flush()
        elif bullet or number:
            want = "ul" if bullet else "ol"
            if para or (kind and kind != want):
                flush()
            kind = want
            items.append((bullet or number).group(1))
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + stripped
        elif re.match(r"^#{1,6}\s+", stripped):
            flush()
            blocks.append(r"\paragraph{" + _inline(re.sub(r"^#{1,6}\s+", "", stripped)) + "}")
        else:
            if items:
                flush()
            para.append(stripped)
    flush()
    return "\n\n".join(blocks)


def _table(table: Table) -> list[str]:
    spec = "".join("r" if c.numeric else "l" for c in table.columns)
    head = " & ".join(esc(c.title) + ARROWS[c.arrow] for c in table.columns)
    lines = [r"\begin{table*}[t]", r"\centering", r"\resizebox{\linewidth}{!}{%", rf"\begin{{tabular}}{{{spec}}}",
             r"\toprule", head + r" \\", r"\midrule"]
    for row, on in zip(table.rows, table.pareto):
        cells = [esc(v) for v in row]
        if on:
            cells[0] += r"$^\dagger$"
        lines.append(" & ".join(cells) + r" \\")
    return lines + [r"\bottomrule", r"\end{tabular}}"]


def _members(sheet: dict) -> str:
    many = len(sheet.get("affiliations") or []) > 1
    out = []
    for m in sheet.get("members") or []:
        s = esc(m["name"])
        if many:
            s += "$^{" + ",".join(str(int(a)) for a in (m.get("affiliations") or [1])) + "}$"
        if m.get("email"):
            s += r" (\href{mailto:" + url(m["email"]) + "}{" + esc(m["email"]) + "})"
        out.append(s)
    return ", ".join(out)


def latex_section(data: dict, table: Table, figure: bool) -> str:
    ph = data["phase"]
    phase_title = esc(ph.get("title") or ph["slug"])
    lines = ["% Generated by mai challenge report: the results section. Needs booktabs, graphicx, hyperref.",
             r"\section{Challenge Results}", "",
             f"{ranked_teams(len(table.rows))} in the {phase_title} phase. Table~\\ref{{tab:results}} reports the "
             "fidelity and runtime of each team's solution, the proposed methods are described in "
             "Section~\\ref{sec:methods}, and the team members and affiliations are listed in "
             "Appendix~\\ref{sec:teams}.", ""]
    lines += _table(table) + [r"\caption{" + esc(caption(data, table)).removeprefix("Table 1. ") + "}",
                              r"\label{tab:results}", r"\end{table*}", ""]
    if figure:
        lines += [r"\begin{figure}[t]", r"\centering", r"\includegraphics[width=\linewidth]{figure.pdf}",
                  r"\caption{" + esc(f"{table.primary_title} against runtime (ms) of the solutions in Table 1; the line "
                                     "joins the Pareto front.") + "}", r"\label{fig:results}", r"\end{figure}", ""]
    lines += [r"\section{Challenge Methods}", r"\label{sec:methods}", "",
              f"This section describes the solutions submitted by the teams of the {phase_title} phase, from their "
              "factsheets.", ""]
    for r in data["rows"]:
        sheet = r.get("factsheet")
        lines += [r"\subsection{" + esc(r["team"]) + "}", ""]
        if not sheet:
            lines += ["No factsheet was submitted.", ""]
            continue
        lines += [r"\textbf{" + esc(sheet["title"]) + "}", "", markdown_to_latex(sheet["description"]), ""]
        facts = [("Framework", sheet.get("framework")), ("Training data", sheet.get("training_data")),
                 ("Training time", sheet.get("training_time")), ("Model size (as stated)", sheet.get("model_size"))]
        items = [rf"  \item {k}: {esc(v)}" for k, v in facts if v]
        items += [r"  \item " + esc(link.get("title") or "Link") + r": \url{" + url(link["url"]) + "}"
                  for link in sheet.get("links") or []]
        if items:
            lines += [r"\begin{itemize}", *items, r"\end{itemize}", ""]
    lines += [r"\appendix", r"\section{Teams and Affiliations}", r"\label{sec:teams}", ""]
    for r in data["rows"]:
        sheet = r.get("factsheet")
        lines += [r"\subsection*{" + esc(r["team"]) + "}", ""]
        if not sheet:
            lines += ["No factsheet was submitted.", ""]
            continue
        affs = sheet.get("affiliations") or []
        aff_text = r" \\ ".join((f"$^{{{i}}}$ " if len(affs) > 1 else "") + esc(a) for i, a in enumerate(affs, 1))
        lines += [r"\textit{Title:} \\ " + esc(sheet["title"]) + r" \\", r"\textit{Members:} \\ " + _members(sheet) + r" \\",
                  r"\textit{Affiliations:} \\ " + aff_text, ""]
    return "\n".join(lines)
