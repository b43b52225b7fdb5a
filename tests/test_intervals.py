"""Rates whose intervals hold at 0 and 1, clustered by sample when records share one; the any-attack rate."""

from __future__ import annotations

import pytest

from lam3_core.analysis.ensemble import combine
from lam3_core.analysis.intervals import rate, wilson
from lam3_core.analysis.metrics import attack_success
from lam3_core.interfaces.records import Generation, Verdict


def test_wilson_by_hand():
    # 30/100, z = 1.959964 (z² = 3.841459): centre = 0.3 + z²/200 = 0.319207;
    # half = z * sqrt(0.3 * 0.7 / 100 + z² / 40000) = z * sqrt(0.00219604) = 0.091848;
    # denominator = 1 + z²/100 = 1.038415 -> [0.227360 / 1.038415, 0.411055 / 1.038415] = [0.218949, 0.395849]
    assert wilson(30, 100) == pytest.approx((0.218949, 0.395849), abs=2e-6)


@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    (0, 20, 0.0, 0.161125),   # upper = z²/(n + z²) = 3.841459/23.841459
    (20, 20, 0.838875, 1.0),
])
def test_an_interval_at_zero_or_one_does_not_collapse(successes, n, low, high):
    r = rate([True] * successes + [False] * (n - successes))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high), abs=2e-6)
    assert r["method"] == "wilson" and r["value"] == successes / n


def test_records_of_one_sample_are_not_counted_as_independent():
    # 10 samples, 3 attacks each; an attack works on a sample for all three attacks or for none (fully clustered)
    flags = [i < 4 for i in range(10) for _ in range(3)]
    clusters = [i for i in range(10) for _ in range(3)]
    clustered = rate(flags, clusters)
    independent = rate(flags)
    assert clustered["value"] == independent["value"] == 0.4
    assert clustered["n_clusters"] == 10 and clustered["method"] == "wilson_clustered"
    # fully correlated records carry the information of 10 samples, not 30: the Wilson interval of 4/10
    assert clustered["n_effective"] == pytest.approx(10)
    assert (clustered["ci_low"], clustered["ci_high"]) == pytest.approx(wilson(4, 10))
    assert clustered["ci_high"] - clustered["ci_low"] > independent["ci_high"] - independent["ci_low"]


def test_clustered_rates_at_zero_use_the_number_of_samples():
    r = rate([False] * 30, [i // 3 for i in range(30)])
    assert r["n_effective"] == 10 and (r["ci_low"], r["ci_high"]) == pytest.approx(wilson(0, 10))


def test_no_records_give_no_rate():
    assert rate([]) == {"value": None, "ci_low": None, "ci_high": None, "n": 0, "method": "wilson"}


def _verdict(record, flagged):
    return Verdict(record, "j", "1", "h", "refusal", float(flagged), 0.5, flagged)


def test_any_attack_counts_a_sample_once_and_per_attack_rates_are_clustered_by_sample():
    gens, ensemble = [], {}
    outcome = {("s1", "none"): False, ("s1", "figstep"): True, ("s2", "none"): False, ("s2", "figstep"): False,
               ("s3", "none"): True, ("s3", "figstep"): True}
    for (sample, attack), flagged in outcome.items():
        g = Generation(f"{sample}::{attack}::0", sample, attack, "m", "q", "q", "a", harmful=True, category="c")
        gens.append(g)
        ensemble[g.record_id] = combine(g.record_id, {"j": _verdict(g.record_id, flagged)}, "any")
    result = attack_success(gens, ensemble)
    assert result["asr"]["value"] == pytest.approx(3 / 6) and result["asr"]["n_clusters"] == 3
    assert result["asr_any_attack"]["value"] == pytest.approx(2 / 3) and result["asr_any_attack"]["n"] == 3
    assert result["by_attack"]["figstep"]["value"] == pytest.approx(2 / 3)
    assert result["by_attack_category"]["none"]["c"]["value"] == pytest.approx(1 / 3)
