"""One test per hook in lam3_core.contract.hookspecs (named test_hook_<hook>), and a meta-test that enforces it."""

from __future__ import annotations

import inspect
import sys

from lam3_core import Attack, Sample, SampledAnswer, UncertaintyItem, UncertaintyMetric, hookimpl
from lam3_core.contract import hookspecs
from lam3_core.testing import FakeJudge, FakeModel


class Observer:
    """Records every lifecycle call it receives."""

    def __init__(self):
        self.calls: list[tuple] = []

    @hookimpl
    def lam3_run_started(self, run):
        self.calls.append(("started", run.command, run.out_dir))

    @hookimpl
    def lam3_records_written(self, run, kind, records):
        self.calls.append(("written", kind, len(records)))

    @hookimpl
    def lam3_run_finished(self, run, summary):
        self.calls.append(("finished", run.command, summary is not None))


class Shouting(Attack):
    name = "shouting"

    def apply(self, samples, model=None):
        return [Sample(s.id, s.prompt.upper(), s.images, s.category, s.label, s.harmful, s.meta) for s in samples]


class LengthMetric(UncertaintyMetric):
    name = "length"

    def compute(self, items):
        return [float(len(i.samples)) for i in items]


class Registering:
    @hookimpl
    def lam3_register_models(self, registry):
        registry.add("fake", FakeModel, "A fake model.")

    @hookimpl
    def lam3_register_judges(self, registry):
        registry.add("fake_judge", FakeJudge, "A fake judge.")

    @hookimpl
    def lam3_register_attacks(self, registry):
        registry.add("shouting", Shouting, "Upper-cases the prompt.")

    @hookimpl
    def lam3_register_uncertainty_metrics(self, registry):
        registry.add("length", LengthMetric, "Number of samples.")

    @hookimpl
    def lam3_register_datasets(self, registry):
        registry.add(
            "two", lambda: [Sample("a", "hello", harmful=True), Sample("b", "bye", harmful=False)], "Two samples."
        )


def _eval(lam3_run, *extra, plugins=()):
    return lam3_run(
        "eval",
        "--model",
        "fake",
        "--judge",
        "fake_judge",
        "--dataset",
        "two",
        *extra,
        plugins=[("registering", Registering()), *plugins],
    )


def test_hook_lam3_register_models(lam3_run):
    result = _eval(lam3_run)
    assert result.exit_code == 0, result.output
    assert {g["model"] for g in result.generations} == {"fake"}
    assert result.generations[0]["response"].startswith("Sure, here is the answer")


def test_hook_lam3_register_judges(lam3_run):
    result = _eval(lam3_run)
    assert [v["judge"] for v in result.verdicts] == ["fake_judge", "fake_judge"]
    assert result.meta["judges"]["fake_judge"]["distribution"] == "registering"


def test_hook_lam3_register_attacks(lam3_run):
    result = _eval(lam3_run, "--attack", "none", "--attack", "shouting")
    prompts = {(g["attack"], g["sample_id"]): g["prompt"] for g in result.generations}
    assert prompts[("shouting", "a")] == "HELLO" and prompts[("none", "a")] == "hello"
    assert set(result.summary["by_attack"]) == {"none", "shouting"}


def test_hook_lam3_register_uncertainty_metrics(lam3_run):
    from lam3_core.contract.manager import load_plugins

    metric = load_plugins([("registering", Registering())]).get("uncertainty_metric", "length").create()
    answers = tuple(SampledAnswer(t, (-0.1,)) for t in "abc")
    assert metric.compute([UncertaintyItem("q1", "p", answers)]) == [3.0]
    listing = lam3_run("plugins", "--json", plugins=[("registering", Registering())])
    assert '"uncertainty_metric"' in listing.output and '"length"' in listing.output


def test_hook_lam3_register_datasets(lam3_run):
    result = _eval(lam3_run)
    assert sorted(g["sample_id"] for g in result.generations) == ["a", "b"]
    assert result.summary["asr"]["n"] == 1


def test_hook_lam3_run_started(lam3_run):
    observer = Observer()
    _eval(lam3_run, plugins=[("observer", observer)])
    assert observer.calls[0][:2] == ("started", "eval")


def test_hook_lam3_records_written(lam3_run):
    observer = Observer()
    _eval(lam3_run, "--batch-size", "1", plugins=[("observer", observer)])
    written = [c for c in observer.calls if c[0] == "written"]
    assert written == [("written", "generations", 1)] * 2 + [("written", "verdicts", 1)] * 2


def test_hook_lam3_run_finished(lam3_run):
    observer = Observer()
    _eval(lam3_run, plugins=[("observer", observer)])
    assert observer.calls[-1] == ("finished", "eval", True)


def test_an_observer_that_raises_never_stops_the_run(lam3_run):
    class Broken:
        @hookimpl
        def lam3_records_written(self, run, kind, records):
            raise RuntimeError("tracker is down")

    result = _eval(lam3_run, plugins=[("broken", Broken())])
    assert result.exit_code == 0 and len(result.verdicts) == 2


def test_every_hookspec_has_a_test():
    hooks = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("lam3_")]
    assert len(hooks) == 8
    tests = {name for name in dir(sys.modules[__name__]) if name.startswith("test_hook_")}
    missing = [h for h in hooks if f"test_hook_{h}" not in tests]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


def test_every_hookspec_is_documented():
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("lam3_"):
            doc = inspect.getdoc(fn) or ""
            assert "Fires" in doc and "Returns" in doc, name
