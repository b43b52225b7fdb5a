"""`lam3 report RUN_A RUN_B --out DIR` compares like runs and refuses unlike ones; `--format` prints paper tables."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lam3_core.analysis.tables import latex_escape, paper_tables, render_tables
from lam3_core.testing import FakeJudge, FakeModel, plugin_providing, run_lam3

REFUSER = ("refuser", plugin_providing(models={"refuser": lambda: FakeModel(default="I'm sorry, I can't help.")},
                                       judges={"sure": FakeJudge}))
COMMON = ["--dataset", "mini", "--judge", "refusal", "--attack", "none", "--attack", "prefix_injection"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    made = {}
    for name, model, limit in (("echo", "echo", "6"), ("refuser", "refuser", "6"), ("fewer", "echo", "4")):
        made[name] = root / name
        result = run_lam3(["eval", "--model", model, "--limit", limit, *COMMON, "--out", made[name]], [REFUSER])
        assert result.exit_code == 0, result.output
    made["more_judges"] = root / "more_judges"
    result = run_lam3(["eval", "--model", "echo", "--limit", "6", *COMMON, "--judge", "sure", "--out",
                       made["more_judges"]], [REFUSER])
    assert result.exit_code == 0, result.output
    return made


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_like_runs_are_compared_side_by_side(runs, tmp_path):
    out = tmp_path / "cmp"
    result = run_lam3(["report", runs["echo"], runs["refuser"], "--out", out])
    assert result.exit_code == 0, result.output
    assert f"Outputs: {(out / 'comparison.html').resolve()}, {(out / 'comparison.json').resolve()}" in result.output
    data = json.loads((out / "comparison.json").read_text())
    assert [r["label"] for r in data["runs"]] == ["echo", "refuser"] and data["differences"] == []
    for label in ("echo", "refuser"):
        summary = _summary(runs[label])
        assert data["asr"][label] == summary["asr"]
        for attack in ("none", "prefix_injection"):
            assert data["by_attack"][attack][label] == summary["by_attack"][attack]
        assert data["judges"]["refusal"][label]["flag_rate"] == summary["judges"]["refusal"]["flag_rate"]
    assert data["asr"]["echo"]["value"] == 1.0 and data["asr"]["refuser"]["value"] == 0.0
    assert data["by_category"]["violence"]["echo"]["n"] == 6  # 3 harmful violence samples x 2 attacks
    html = (out / "comparison.html").read_text()
    assert "These runs differ" not in html and re.search(r'<img class="plot" src="data:image/png;base64,', html)


def test_unlike_runs_are_refused_naming_the_difference(runs, tmp_path):
    dataset = run_lam3(["report", runs["echo"], runs["fewer"], "--out", tmp_path / "a"])
    assert dataset.exit_code == 2 and "not comparable" in dataset.output and "- dataset: echo: mini (6 samples" in \
        dataset.output and "fewer: mini (4 samples" in dataset.output and "--allow-different" in dataset.output
    judges = run_lam3(["report", runs["echo"], runs["more_judges"], "--out", tmp_path / "b"])
    assert judges.exit_code == 2 and "- judges: echo: refusal; more_judges: refusal, sure" in judges.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    tables = run_lam3(["report", runs["echo"], runs["fewer"], "--format", "csv"])
    assert tables.exit_code == 2 and "dataset" in tables.output
    generated = tmp_path / "generated"
    made = run_lam3(["generate", "--model", "echo", "--dataset", "mini", "--limit", "2", "--out", generated])
    assert made.exit_code == 0, made.output
    unjudged = run_lam3(["report", runs["echo"], generated, "--format", "markdown"])
    assert unjudged.exit_code == 2 and f"{generated} has no summary.json" in unjudged.output
    assert f"lam3 report {generated}" in unjudged.output


def test_allow_different_compares_and_shows_the_differences_first(runs, tmp_path):
    out = tmp_path / "cmp"
    result = run_lam3(["report", runs["echo"], runs["fewer"], "--out", out, "--allow-different"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "comparison.json").read_text())
    assert data["allow_different"] and data["differences"][0].startswith("dataset: ")
    html = (out / "comparison.html").read_text()
    assert html.index("These runs differ") < html.index("<h2>Runs</h2>")
    assert "dataset: echo: mini (6 samples" in html


def test_report_options_that_would_do_nothing_are_refused(runs, tmp_path):
    for args, expected in (
        ([runs["echo"], runs["refuser"], "--out", tmp_path / "x", "--threshold", "refusal=0.7"], "--thresholds"),
        ([runs["echo"], "--out", tmp_path / "x"], "--out is the folder of a comparison"),
        ([runs["echo"], runs["refuser"]], "Pass --out DIR"),
        ([runs["echo"], "--format", "latex", "--examples", "3"], "--examples"),
        ([runs["echo"], "--allow-different"], "no effect on one run"),
        ([runs["echo"], runs["echo"], "--out", tmp_path / "x"], "named twice"),
        ([runs["echo"], runs["refuser"], "--out", runs["echo"]], "is a run directory"),
    ):
        result = run_lam3(["report", *args])
        assert result.exit_code == 2 and expected in result.output, (args, result.output)


def test_markdown_and_csv_tables(runs):
    md = run_lam3(["report", runs["echo"], "--format", "markdown"])
    assert md.exit_code == 0, md.output
    assert "| prefix_injection | 1.000 | [0.510, 1.000] | 4 |" in md.output
    assert "| refusal | refusal | complied (did not refuse) | 0.500 | 1.000 | 1.000 | 12 | 0 |" in md.output
    csv = run_lam3(["report", runs["echo"], runs["refuser"], "--format", "csv"])
    rows = [line.split(",") for line in csv.output.splitlines()]
    assert rows[0] == ["table", "row", "column", "value", "ci_low", "ci_high", "n"]
    none = [r for r in rows if r[1] == "none" and r[0].startswith("Attack success rate by attack")]
    asr = _summary(runs["refuser"])["by_attack"]["none"]
    assert [r[2:] for r in none][1] == ["refuser", "0.0", repr(asr["ci_low"]), repr(asr["ci_high"]), "4"]


def _tabulars(latex: str) -> list[list[str]]:
    return re.findall(r"\\begin\{tabular\}\{([lr]+)\}\n(.*?)\n\\end\{tabular\}", latex, re.S)


def test_latex_is_balanced_escaped_and_has_one_cell_per_column(tmp_path):
    rate = {"value": 0.25, "ci_low": 0.1, "ci_high": 0.5, "n": 8}
    nasty = "a&b_c%d#e$f~g^h{i}j\\k<l>m|n"
    summary = {"asr": rate, "asr_any_attack": rate, "by_attack": {"fig_step": rate, nasty: rate},
               "by_category": {nasty: rate, "100% harmful": None},
               "judges": {"tox_judge": {"measures": "social_toxicity", "flag_means": "unsafe", "flag_rate": 0.5,
                                        "mean_score": 0.4, "n": 8, "errors": 1}}, "thresholds": {"tox_judge": 0.5}}
    for labels, summaries in ((["run_1"], [summary]), (["run_1", "run&2"], [summary, summary])):
        latex = render_tables(paper_tables(labels, summaries), "latex")
        assert latex.count(r"\begin{tabular}") == latex.count(r"\end{tabular}") == 3
        assert latex.count(r"\toprule") == latex.count(r"\midrule") == latex.count(r"\bottomrule") == 3
        for spec, body in _tabulars(latex):
            lines = [x for x in body.splitlines() if not x.endswith("rule")]
            assert all(x.endswith(r" \\") for x in lines)
            assert {len(re.split(r"(?<!\\)&", x)) for x in lines} == {len(spec)}
        assert latex_escape(nasty) in latex and nasty not in latex
    assert latex_escape(nasty) == (r"a\&b\_c\%d\#e\$f\textasciitilde{}g\textasciicircum{}h\{i\}j\textbackslash{}k"
                                   r"\textless{}l\textgreater{}m\textbar{}n")
    _compile(latex, tmp_path)


def _compile(fragment: str, folder: Path) -> None:
    """Compile the tables in a document with booktabs (pdflatex from Debian's texlive-latex-recommended)."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is not installed, and CI must compile the LaTeX tables (.ci/run installs it).")
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-recommended); CI compiles the tables.")
    source = folder / "tables.tex"
    source.write_text("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
                      "\\begin{document}\n" + fragment + "\\end{document}\n")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", source.name], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (folder / "tables.pdf").stat().st_size > 1000


def test_pope_f1_and_corrected_asr_are_compared_when_present():
    from lam3_core.analysis.comparison import ComparedRun, comparison, render_comparison

    def run(label: str, f1: float) -> ComparedRun:
        summary = {"model": label, "pope": {"splits": {"random": {"f1": f1, "accuracy": 0.9}},
                                            "mean": {"f1": {"value": f1, "ci_low": 0.1, "ci_high": 0.9}}},
                   "asr_corrected": {"harmbench": {"value": 0.2, "ci_low": 0.1, "ci_high": 0.3}}}
        return ComparedRun(label, f"/runs/{label}", summary, {}, "finished")

    result = comparison([run("a", 0.86), run("b", 0.72)], [], False)
    assert result["pope_f1"] == {"splits/random": {"a": 0.86, "b": 0.72}, "mean": {"a": 0.86, "b": 0.72}}
    assert set(result["asr_corrected"]) == {"a", "b"}
    html = render_comparison(result, {})
    assert "<h2>POPE F1</h2>" in html and "<th>splits/random</th><td class=\"num\">0.860</td>" in html
    assert "corrected for judge errors" in html and "0.200 [0.100, 0.300]" in html
    no_pope = comparison([ComparedRun("c", "/runs/c", {}, {}, "finished")], [], False)
    assert "pope_f1" not in no_pope and "asr_corrected" not in no_pope
