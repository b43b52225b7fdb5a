"""The model and every judge are handed chunks of pending records (256, or --batch-size when given) and each chunk is
flushed as soon as it is done; attacks get --batch-size samples per call (8 when it is not given)."""

from __future__ import annotations

from lam3_core import Sample, hookimpl
from lam3_core.run.config import RECORDS_PER_CALL, SAMPLES_PER_ATTACK_CALL, RunConfig
from lam3_core.testing import FakeJudge, FakeModel, plugin_providing

N = 300


class CountingJudge(FakeJudge):
    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def score(self, items):
        self.batches.append(len(items))
        return super().score(items)


class Written:
    def __init__(self):
        self.sizes: list[int] = []

    @hookimpl
    def lam3_records_written(self, run, kind, records):
        if kind == "generations":
            self.sizes.append(len(records))


def _run(lam3_run, *extra):
    model, judge, written = FakeModel(), CountingJudge(), Written()
    plugin = plugin_providing(models={"counting": lambda: model}, judges={"counting_judge": lambda: judge},
                              datasets={"many": lambda: [Sample(f"s{i:03d}", f"question {i}") for i in range(N)]})
    result = lam3_run("eval", "--model", "counting", "--judge", "counting_judge", "--dataset", "many", *extra,
                      plugins=[("counting", plugin), ("written", written)])
    assert result.exit_code == 0, result.output
    return result, [len(call) for call in model.calls], judge.batches, written.sizes


def test_without_batch_size_the_model_and_the_judges_get_chunks(lam3_run):
    result, calls, judged, written = _run(lam3_run)
    assert calls == written == [RECORDS_PER_CALL, N - RECORDS_PER_CALL]
    assert judged == [RECORDS_PER_CALL, N - RECORDS_PER_CALL]
    assert result.meta["config"]["batch_size"] is None
    assert [g["sample_id"] for g in result.generations] == [f"s{i:03d}" for i in range(N)]


def test_batch_size_bounds_what_the_model_and_the_judges_get_per_call(lam3_run):
    result, calls, judged, written = _run(lam3_run, "--batch-size", "64")
    assert calls == written == [64] * 4 + [N - 256]
    assert judged == [64] * 4 + [N - 256]
    assert result.meta["config"]["batch_size"] == 64


def test_the_defaults_apply_only_when_batch_size_is_not_given():
    assert RunConfig().records_per_call() == RECORDS_PER_CALL and RunConfig(batch_size=3).records_per_call() == 3
    assert RunConfig().samples_per_attack_call() == SAMPLES_PER_ATTACK_CALL
    assert RunConfig(batch_size=3).samples_per_attack_call() == 3
