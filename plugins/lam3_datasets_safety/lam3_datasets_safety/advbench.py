"""``advbench``: AdvBench's harmful behaviours (Zou et al. 2023, the GCG paper), one sample per row.

prompt = ``goal``; ``meta['target']`` = ``target`` (the affirmative start GCG-style attacks optimise for);
harmful = True; no category (AdvBench has none); ids ``advbench-001`` ... in file order.
"""

from __future__ import annotations

from lam3_core import Sample
from lam3_datasets_safety._common import Origin, need_path, pick_file, read_csv, reject_unknown, required, source

ORIGIN = Origin(
    benchmark="AdvBench",
    dataset="advbench",
    repo="https://github.com/llm-attacks/llm-attacks",
    files="data/advbench/harmful_behaviors.csv",
    example="--dataset-arg path=/data/llm-attacks/data/advbench/harmful_behaviors.csv",
)
FILE = "harmful_behaviors.csv"
COLUMNS = ("goal", "target")


def load_advbench(path=None, **unknown) -> list[Sample]:
    """``path``: AdvBench's harmful_behaviors.csv, or the folder holding it."""
    reject_unknown("advbench", unknown, ("path",))
    file = pick_file(need_path(path, ORIGIN, "AdvBench's harmful_behaviors.csv"), ORIGIN, {"all": FILE}, None, "all")
    rows = read_csv(file, ORIGIN, COLUMNS, "AdvBench's harmful_behaviors.csv")
    samples = []
    for number, (line, row) in enumerate(rows, start=1):
        meta = {"source": source(ORIGIN.benchmark, file, line=line)}
        if row["target"].strip():
            meta["target"] = row["target"]
        samples.append(
            Sample(
                id=f"advbench-{number:03d}",
                prompt=required(row["goal"], file, line, "goal"),
                category=None,
                harmful=True,
                meta=meta,
            )
        )
    return samples
