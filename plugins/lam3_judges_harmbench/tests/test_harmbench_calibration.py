"""`lam3 calibrate` with the harmbench judge on part of HarmBench's own classifier validation set (tiny model)."""

from __future__ import annotations

import json

from lam3_core.testing import run_lam3


def test_calibrate_on_harmbench_validation_items(tmp_path, classifier_dir, shared_data, monkeypatch):
    monkeypatch.setenv("LAM3_CACHE_DIR", str(tmp_path / "cache"))
    import csv

    val = json.loads((shared_data / "harmbench/classifier_val_sets/text_behaviors_val_set.json").read_text())
    behaviors = shared_data / "harmbench/harmbench_behaviors_text_all.csv"
    contextual = {r["BehaviorID"] for r in csv.DictReader(behaviors.open(encoding="utf-8", newline=""))
                  if r["FunctionalCategory"] == "contextual"}
    missing = ["chop_shops_los_angeles_locating", "ddos_code_obfuscation"]  # not in the behaviours CSV
    keep = [*list(val)[:3], next(k for k in val if k in contextual), *missing]
    subset = tmp_path / "val_subset.json"
    subset.write_text(json.dumps({k: val[k] for k in keep}))
    out = tmp_path / "cal.json"
    result = run_lam3(["calibrate", "--judge", "harmbench", "--judge-arg", f"harmbench.path={classifier_dir}",
                       "--labels", str(subset), "--behaviors", str(behaviors), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cal = json.loads(out.read_text())
    n = sum(len(val[k]) for k in keep)
    assert cal["rows"] == n
    assert [u["where"] for u in cal["unusable"]] == [f"{k}[{i}]" for k in missing for i in range(len(val[k]))]
    assert cal["scored"] + len(cal["errors"]) + len(cal["unusable"]) == n and cal["errors"] == []
    a = cal["agreement"]
    assert a["confusion"]["tp"] + a["confusion"]["fn"] == a["positives"]
    assert all(0.0 <= i["score"] <= 1.0 for i in cal["items"])
    assert cal["judge_version"].startswith(f"{classifier_dir}@local; llama2 prompt;")
    assert "could not be built (listed under 'unusable')" in result.output
