"""The main tables of one or several runs for a paper, as Markdown, a LaTeX ``tabular`` fragment, or tidy CSV.

Tables: attack success rate per attack and per category (95% interval and the number of
records), and each judge's flag rate. For one run, the interval and n have their own columns;
for several, each run is a column and a cell reads ``value [low, high]``. Rates are fractions
with three decimals, as in summary.json. LaTeX cells are escaped (``& % $ # _ { } ~ ^ \\``,
``< > |``), rules come from booktabs (``\\usepackage{booktabs}``). CSV is long-form, one line
per cell with its numbers unformatted: ``table,row,column,value,ci_low,ci_high,n``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from lam3_core.analysis.html_page import fmt, is_rate

FORMATS = ("markdown", "latex", "csv")


@dataclass
class Table:
    """A titled grid; the first column holds row labels, other cells are text, numbers or rate dicts."""

    title: str
    columns: list[str]
    rows: list[list]


def _interval(rate: dict | None) -> str:
    if not rate or rate.get("value") is None:
        return "n/a"
    return f"[{fmt(rate['ci_low'])}, {fmt(rate['ci_high'])}]"


def _rate_rows(summaries: Sequence[dict], key: str) -> list[tuple[str, list]]:
    names = list(dict.fromkeys(name for s in summaries for name in (s.get(key) or {})))
    return [(name, [(s.get(key) or {}).get(name) for s in summaries]) for name in names]


def _asr_table(title: str, first: str, rows: list[tuple[str, list]], labels: Sequence[str]) -> Table:
    if len(labels) == 1:
        body = [[name, rates[0], _interval(rates[0]), (rates[0] or {}).get("n", 0)] for name, rates in rows]
        return Table(title, [first, "ASR", "95% CI", "n"], body)
    return Table(title, [first, *labels], [[name, *rates] for name, rates in rows])


def paper_tables(labels: Sequence[str], summaries: Sequence[dict]) -> list[Table]:
    """The tables for runs ``labels`` (one summary.json each, same order)."""
    by_attack = _rate_rows(summaries, "by_attack")
    if len(by_attack) > 1 or not by_attack:
        by_attack.append(("all attacks", [s.get("asr") for s in summaries]))
        by_attack.append(("any attack (per sample)", [s.get("asr_any_attack") for s in summaries]))
    tables = [
        _asr_table("Attack success rate by attack (harmful samples; 95% Wilson interval)", "attack", by_attack, labels),
        _asr_table("Attack success rate by category (harmful samples; 95% Wilson interval)", "category",
                   _rate_rows(summaries, "by_category"), labels),
    ]
    judges = list(dict.fromkeys(j for s in summaries for j in (s.get("judges") or {})))
    if len(labels) == 1:
        s = summaries[0]
        rows = [[j, st.get("measures"), st.get("flag_means"), (s.get("thresholds") or {}).get(j), st.get("flag_rate"),
                 st.get("mean_score"), st.get("n"), st.get("errors")] for j, st in (s.get("judges") or {}).items()]
        columns = ["judge", "measures", "a flag means", "threshold", "flag rate", "mean score", "n", "errors"]
        tables.append(Table("Judges: flag rate over the records each scored", columns, rows))
    else:
        rows = [[j, *(((s.get("judges") or {}).get(j) or {}).get("flag_rate") for s in summaries)] for j in judges]
        tables.append(Table("Judges: flag rate over the records each scored", ["judge", *labels], rows))
    return tables


def _text(cell) -> str:
    if is_rate(cell):
        return "n/a" if cell.get("value") is None else f"{fmt(cell['value'])} {_interval(cell)}"
    return fmt(cell)


def _single_value(cell) -> str:
    """A rate cell in a table that has its own interval column shows only the value."""
    return fmt(cell.get("value")) if is_rate(cell) else _text(cell)


def _cells(table: Table) -> list[list[str]]:
    single = "95% CI" in table.columns
    return [[_single_value(c) if single else _text(c) for c in row] for row in table.rows]


def _numeric(table: Table) -> list[bool]:
    """Per column after the first: whether it holds numbers (right-aligned) rather than words."""
    return [all(c is None or is_rate(c) or (isinstance(c, (int, float)) and not isinstance(c, bool)) or
                (isinstance(c, str) and c.startswith("[")) for c in (row[i] for row in table.rows))
            for i in range(1, len(table.columns))]


def _markdown_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(tables: list[Table]) -> str:
    blocks = []
    for table in tables:
        escape = _markdown_escape
        lines = [f"**{escape(table.title)}**", "", "| " + " | ".join(map(escape, table.columns)) + " |",
                 "|" + "|".join(["---"] + ["---:" if n else "---" for n in _numeric(table)]) + "|"]
        lines += ["| " + " | ".join(map(escape, row)) + " |" for row in _cells(table)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
          ">": r"\textgreater{}", "|": r"\textbar{}", "\n": " ", "\r": " "}


def latex_escape(text: str) -> str:
    """``text`` as literal LaTeX text: every special character escaped."""
    return "".join(_LATEX.get(c, c) for c in str(text))


def _latex(tables: list[Table]) -> str:
    blocks = []
    for table in tables:
        spec = "l" + "".join("r" if n else "l" for n in _numeric(table))
        lines = [f"% {latex_escape(table.title)}", r"\begin{tabular}{" + spec + "}",
                 r"\toprule", " & ".join(map(latex_escape, table.columns)) + r" \\", r"\midrule"]
        lines += [" & ".join(map(latex_escape, row)) + r" \\" for row in _cells(table)]
        lines += [r"\bottomrule", r"\end{tabular}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _csv(tables: list[Table]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "row", "column", "value", "ci_low", "ci_high", "n"])
    for table in tables:
        for row in table.rows:
            for column, cell in zip(table.columns[1:], row[1:]):
                if column in ("95% CI", "n") and "95% CI" in table.columns:
                    continue
                if is_rate(cell):
                    writer.writerow([table.title, row[0], column, cell.get("value"), cell.get("ci_low"),
                                     cell.get("ci_high"), cell.get("n")])
                else:
                    writer.writerow([table.title, row[0], column, "" if cell is None else cell, "", "", ""])
    return buffer.getvalue()


def render_tables(tables: list[Table], form: str) -> str:
    """``tables`` in ``form``: markdown, latex or csv."""
    return {"markdown": _markdown, "latex": _latex, "csv": _csv}[form](tables)
