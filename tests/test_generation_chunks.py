"""The model and every judge are handed chunks of pending records (256, or --batch-size when given) and each chunk is
flushed as soon as it is done; attacks get --batch-size samples per call (8 when it is not given)."""

from __future__ import annotations

import pytest

from lam3_core import Completion, Sample, hookimpl
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


class AnnouncedModel(FakeModel):
    """Records, in call order, each call and each announcement of the call after it."""

    def __init__(self):
        super().__init__()
        self.events: list[tuple[str, list[str]]] = []

    def prepare_next(self, samples, gen_config, k=0, sample_config=None):
        self.events.append(("next", [s.id for s in samples], k, sample_config is not None))

    def generate(self, samples, gen_config, trace=False):
        self.events.append(("generate", [s.id for s in samples]))
        return super().generate(samples, gen_config, trace)

    def sample(self, samples, k, gen_config):
        return [[Completion(text=f"draw {i}", token_logprobs=[-1.0]) for i in range(k)] for _ in samples]

    def generate_with_samples(self, samples, k, gen_config, sample_config):
        self.events.append(("generate_with_samples", [s.id for s in samples]))
        return list(zip(FakeModel.generate(self, samples, gen_config, True), self.sample(samples, k, sample_config)))


@pytest.mark.parametrize("k, call", [(0, "generate"), (2, "generate_with_samples")])
def test_before_each_call_the_model_is_told_which_chunk_follows(lam3_run, k, call):
    ids = [f"s{i:03d}" for i in range(N)]
    model = AnnouncedModel()
    plugin = plugin_providing(models={"announced": lambda: model},
                              datasets={"many": lambda: [Sample(i, f"question {i}") for i in ids]})
    result = lam3_run("generate", "--model", "announced", "--dataset", "many", "--batch-size", "128",
                      *(("--samples", str(k)) if k else ()), plugins=[("announced", plugin)])
    assert result.exit_code == 0, result.output
    assert model.events == [("next", ids[128:256], k, bool(k)), (call, ids[:128]),
                            ("next", ids[256:], k, bool(k)), (call, ids[128:256]), (call, ids[256:])]


def test_the_defaults_apply_only_when_batch_size_is_not_given():
    assert RunConfig().records_per_call() == RECORDS_PER_CALL and RunConfig(batch_size=3).records_per_call() == 3
    assert RunConfig().samples_per_attack_call() == SAMPLES_PER_ATTACK_CALL
    assert RunConfig(batch_size=3).samples_per_attack_call() == 3


class StoppingJudge(CountingJudge):
    """Stops the run (a user-caused error) on its third chunk."""

    def score(self, items):
        if len(self.batches) == 2:
            from lam3_core import UsageError

            raise UsageError("the scoring service revoked the key", "Renew the key.")
        return super().score(items)


def test_chunks_scored_before_a_judge_stops_the_run_are_written_to_the_verdicts_and_the_cache(lam3_run, tmp_path):
    import sqlite3

    judge = StoppingJudge()
    plugin = plugin_providing(judges={"stopping": lambda: judge},
                              datasets={"many": lambda: [Sample(f"s{i:03d}", f"question {i}") for i in range(N)]})
    result = lam3_run("eval", "--model", "echo", "--judge", "stopping", "--dataset", "many", "--batch-size", "64",
                      plugins=[("stopping", plugin)])
    assert result.exit_code != 0 and "revoked the key" in result.output
    assert judge.batches == [64, 64] and len(result.verdicts) == 128
    with sqlite3.connect(tmp_path / "cache" / "judge-cache.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 128


def test_the_next_chunk_is_looked_up_in_the_cache_while_the_judge_scores(lam3_run, monkeypatch):
    import threading
    import time

    from lam3_core.run.judgecache import JudgeCache

    events: list[tuple[str, str]] = []
    real_get_many = JudgeCache.get_many

    def get_many(self, keys):
        events.append(("lookup", threading.current_thread().name))
        return real_get_many(self, keys)

    class SlowJudge(CountingJudge):
        def score(self, items):
            events.append(("score starts", threading.current_thread().name))
            time.sleep(0.2)  # long enough for the other thread's lookup
            events.append(("score ends", threading.current_thread().name))
            return super().score(items)

    monkeypatch.setattr(JudgeCache, "get_many", get_many)
    plugin = plugin_providing(judges={"slow": SlowJudge},
                              datasets={"few": lambda: [Sample(f"s{i}", f"question {i}") for i in range(4)]})
    result = lam3_run("eval", "--model", "echo", "--judge", "slow", "--dataset", "few", "--batch-size", "2",
                      plugins=[("slow", plugin)])
    assert result.exit_code == 0, result.output
    kinds = [kind for kind, _ in events]
    assert kinds[:4] == ["lookup", "score starts", "lookup", "score ends"]  # chunk 2 looked up during chunk 1
    assert all(thread != threading.main_thread().name for kind, thread in events if kind == "lookup")


def test_plugins_hear_of_written_verdicts_on_the_main_thread(lam3_run):
    import threading

    class Listener:
        threads: set = set()
        verdicts = 0

        @hookimpl
        def lam3_records_written(self, run, kind, records):
            if kind == "verdicts":
                self.threads.add(threading.current_thread().name)
                self.verdicts += len(records)

    listener = Listener()
    plugin = plugin_providing(datasets={"few": lambda: [Sample(f"s{i}", f"question {i}") for i in range(5)]})
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "few", "--batch-size", "2",
                      plugins=[("few", plugin), ("listener", listener)])
    assert result.exit_code == 0, result.output
    assert listener.threads == {threading.main_thread().name} and listener.verdicts == 5


class OrderJudge(FakeJudge):
    """Records the (request, response) of every item in the order it gets them."""

    def __init__(self, reads_request: bool):
        super().__init__()
        self.uses_request = reads_request
        self.order: list[tuple[str, str]] = []

    def score(self, items):
        self.order.extend((i.request, i.response) for i in items)
        return super().score(items)


def test_judges_get_the_longest_inputs_first_counting_the_request_when_they_read_it(lam3_run):
    answers = {"long-request": "short", "long-answer": "a much longer answer", "plain": "mid answer"}
    samples = [Sample("long-request", "q" * 40), Sample("long-answer", "q"), Sample("plain", "q" * 5)]
    both, response_only = OrderJudge(reads_request=True), OrderJudge(reads_request=False)
    plugin = plugin_providing(models={"answers": lambda: FakeModel(answers, default="")},
                              judges={"both": lambda: both, "response_only": lambda: response_only},
                              datasets={"three": lambda: samples})
    result = lam3_run("eval", "--model", "answers", "--judge", "both", "--judge", "response_only", "--dataset",
                      "three", plugins=[("order", plugin)])
    assert result.exit_code == 0, result.output
    assert [response for _, response in both.order] == ["short", "a much longer answer", "mid answer"]
    assert [response for _, response in response_only.order] == ["a much longer answer", "mid answer", "short"]
