"""``lam3 report RUN_A RUN_B ... --out DIR`` (comparison.html and comparison.json) and ``--format`` (paper tables).

Both read each run's summary.json and meta.json as they are: nothing in a run directory is
rebuilt or written. Runs that differ in dataset, judges or how the judges are combined are
refused unless the caller allows it, and the differences are then shown first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from lam3_core.analysis.comparison import ComparedRun, comparison, differences, render_comparison
from lam3_core.analysis.tables import paper_tables, render_tables
from lam3_core.interfaces.errors import UsageError
from lam3_core.run.rundir import FILES, RunDir
from lam3_core.run.runs_index import describe_run
from lam3_core.run.store import write_json_atomic, write_text_atomic

COMPARISON_JSON = "comparison.json"
COMPARISON_HTML = "comparison.html"


def check_report_options(run_dirs: tuple[str, ...] | list[str], rebuild: dict, examples: int | None,
                         table_format: str | None, out: str | None, allow_different: bool) -> None:
    """Refuse options of ``lam3 report`` that would have no effect in the mode the runs and --format select:
    rebuilding one run (judge options, --examples), comparing several (--out, --allow-different) or printing
    tables (--allow-different). ``rebuild`` holds the judge options given."""
    given = sorted(k for k, v in rebuild.items() if v not in (None, (), [], {}))
    rebuilds = not table_format and len(run_dirs) == 1
    if given and not rebuilds:
        raise UsageError(
            f"{', '.join('--' + k.replace('_', '-') for k in given)} rebuilds one run's summary, but this command "
            + ("prints the tables of the summaries as they are." if table_format else "compares several runs."),
            "Rebuild each run first (lam3 report RUN --threshold ...), then compare them or print their tables.")
    if examples is not None and not rebuilds:
        raise UsageError("--examples sets the examples of one run's report.html.",
                         "Drop it, or rebuild that run's report alone: lam3 report RUN --examples N.")
    if out and (table_format or len(run_dirs) == 1):
        raise UsageError("--out is the folder of a comparison of several runs.",
                         "Drop it: " + ("--format prints the tables." if table_format else
                                        "a run's report is written into its own directory."))
    if allow_different and len(run_dirs) == 1:
        raise UsageError("--allow-different has no effect on one run.", "Drop it, or name the runs to compare.")


@dataclass(frozen=True)
class ComparisonOutcome:
    out_dir: Path
    files: list[Path]
    differences: list[str]


def _labels(paths: list[Path]) -> list[str]:
    """Each run's folder name; the path below the runs' common folder where names repeat."""
    names = [p.name or str(p) for p in paths]
    if len(set(names)) == len(names):
        return names
    common = Path(os.path.commonpath(paths)) if len(paths) > 1 else paths[0].parent
    relative = [str(p.relative_to(common)) or p.name for p in paths]
    return relative if len(set(relative)) == len(relative) else [f"{i + 1}:{n}" for i, n in enumerate(names)]


def load_runs(run_dirs: list[str | Path]) -> list[ComparedRun]:
    """Each run's summary.json and meta.json; a folder that is not a run, or has no summary yet, is refused."""
    paths = []
    for run_dir in run_dirs:
        rundir = RunDir(run_dir)
        rundir.require_run()
        if not rundir.file("summary").is_file():
            raise UsageError(f"{rundir.path} has no {FILES['summary']} (it was never judged, or judging was killed).",
                             f"Build it first: lam3 report {rundir.path}")
        paths.append(rundir.path.resolve())
    if len(set(paths)) != len(paths):
        raise UsageError("A run directory is named twice.", "Name each run once.")
    runs = []
    for label, path in zip(_labels(paths), paths):
        summary = json.loads((path / FILES["summary"]).read_text(encoding="utf-8"))
        runs.append(ComparedRun(label, str(path), summary, RunDir(path).read_meta(), describe_run(path).status))
    return runs


def check_comparable(runs: list[ComparedRun], allow_different: bool) -> list[str]:
    """The runs' differences; refused (a usage error listing them) unless ``allow_different``."""
    found = differences(runs) if len(runs) > 1 else []
    if found and not allow_different:
        raise UsageError("The runs are not comparable:\n" + "\n".join(f"- {d}" for d in found),
                         "Compare runs of the same dataset scored by the same judges, or pass --allow-different to "
                         "compare them anyway (the differences are then shown at the top).")
    return found


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file.", "Pass a folder for comparison.html and comparison.json.")
    if RunDir(out).is_run:
        raise UsageError(f"--out {out} is a run directory.", "Pass a new folder for the comparison.")
    if out.is_dir() and any(out.iterdir()) and not (out / COMPARISON_JSON).is_file():
        raise UsageError(f"--out {out} is not empty and holds no earlier comparison.",
                         "Pass a new or empty folder (or the folder of an earlier comparison to replace it).")


def compare(run_dirs: list[str | Path], out: str | Path | None, allow_different: bool = False) -> ComparisonOutcome:
    """Write comparison.json and comparison.html for the runs into ``out``."""
    if not out:
        raise UsageError("Where should the comparison go?", "Pass --out DIR (comparison.html and comparison.json).")
    runs = load_runs(run_dirs)
    found = check_comparable(runs, allow_different)
    out_dir = Path(out).expanduser()
    _check_out(out_dir)
    result = comparison(runs, found, allow_different)
    from lam3_core.analysis.plots import asr_comparison

    plot = asr_comparison(result["by_attack"], [r.label for r in runs])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / COMPARISON_JSON, result)
    write_text_atomic(out_dir / COMPARISON_HTML, render_comparison(result, {"asr_by_attack": plot} if plot else {}))
    return ComparisonOutcome(out_dir, [out_dir / COMPARISON_HTML, out_dir / COMPARISON_JSON], found)


def tables(run_dirs: list[str | Path], form: str, allow_different: bool = False) -> str:
    """The main tables of the runs (one or several) in ``form`` (markdown, latex or csv)."""
    runs = load_runs(run_dirs)
    check_comparable(runs, allow_different)
    return render_tables(paper_tables([r.label for r in runs], [r.summary for r in runs]), form)
