"""The plugin contract as a plugin author meets it: pluggy's validation and order, isolated load failures,
argument checks before a factory runs, plugin bugs with their traceback, measures, and observers that get
read-only copies and always hear how the run ended."""

from __future__ import annotations

import pytest

from lam3_core import Judge, Measure, RunFailed, Score, UsageError, hookimpl
from lam3_core.contract.manager import load_plugins
from lam3_core.testing import FakeJudge, FakeModel, plugin_providing

JUDGE = """
from lam3_core import hookimpl

@hookimpl
def lam3_register_judges(registry):
    registry.add("{name}", "lam3_core.testing:FakeJudge", "A judge from a fake distribution.")
"""


def test_a_hook_taking_an_argument_the_spec_lacks_is_a_load_failure_and_others_still_load(fake_dist):
    fake_dist("extra-arg", "fakeplug_extra", "from lam3_core import hookimpl\n\n@hookimpl\n"
              "def lam3_register_judges(registry, priority):\n    pass\n")
    fake_dist("fake-judges", "fakeplug_a", JUDGE.format(name="fakejudge"))
    plugins = load_plugins()
    [failure] = plugins.failures
    assert failure.distribution == "extra-arg" and "priority" in failure.error
    assert "fakejudge" in plugins.registry.names("judge")


def test_two_distributions_with_one_entry_point_name_load_the_first_and_report_the_second(fake_dist):
    fake_dist("dist-one", "fakeplug_one", JUDGE.format(name="judge_one"), entry_point="judges")
    fake_dist("dist-two", "fakeplug_two", JUDGE.format(name="judge_two"), entry_point="judges")
    plugins = load_plugins()
    [failure] = plugins.failures
    assert "entry-point name 'judges' is already used by" in failure.error
    assert {failure.distribution} | {"dist-one", "dist-two"} == {"dist-one", "dist-two"}
    loaded = {"judge_one", "judge_two"} & set(plugins.registry.names("judge"))
    assert len(loaded) == 1


def recorder(name: str, calls: list, **marker):
    """A plugin whose registration and observer append its name to ``calls``, with pluggy ``marker``s."""

    class Recorder:
        @hookimpl(**marker)
        def lam3_register_judges(self, registry):
            calls.append(("register", name))

        @hookimpl(**marker)
        def lam3_run_finished(self, run):
            calls.append(("finished", name))

    return Recorder()


def test_tryfirst_and_trylast_order_registration_and_observers_as_pluggy_does(lam3_run):
    calls: list = []
    plugins = [("plain", recorder("plain", calls)), ("late", recorder("late", calls, trylast=True)),
               ("early", recorder("early", calls, tryfirst=True))]
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "1",
                      plugins=plugins)
    assert result.exit_code == 0, result.output
    registered = [name for kind, name in calls if kind == "register"]
    finished = [name for kind, name in calls if kind == "finished"]
    assert registered == ["early", "plain", "late"]
    assert finished == ["early", "plain", "late"]


class Buggy(Judge):
    name = "buggy"

    def __init__(self, depth: int = 1):
        raise ValueError(f"cannot build the classifier head at depth {depth}")

    def score(self, items):
        return []


def test_a_bug_inside_a_factory_keeps_its_traceback_and_names_the_distribution(lam3_run):
    result = lam3_run("eval", "--model", "echo", "--judge", "buggy", "--dataset", "mini", "--limit", "1",
                      plugins=[("buggy-plugin", plugin_providing(judges={"buggy": Buggy}))])
    assert result.exit_code == 3
    assert "Traceback" in result.output and "ValueError: cannot build the classifier head at depth 1" in result.output
    assert "This is a bug in buggy-plugin" in result.output
    assert not result.out_dir.exists()


def test_arguments_are_checked_against_the_factory_before_it_runs(lam3_run):
    made: list = []

    def factory(keywords=("sure",), fail_on=None):
        made.append(1)
        return FakeJudge(keywords, fail_on)

    plugin = ("p", plugin_providing(judges={"kw": factory}))
    result = lam3_run("eval", "--model", "echo", "--judge", "kw", "--judge-arg", "kw.keyword=x", "--dataset",
                      "mini", "--limit", "1", plugins=[plugin])
    assert result.exit_code == 2 and made == []
    assert "The judge 'kw' has no argument 'keyword'. Did you mean keywords? It accepts: fail_on, keywords" \
        in result.output
    assert "--judge-arg kw.KEY=VALUE" in result.output


def test_typed_keyword_options_of_hugging_face_plugins_are_checked_by_name(lam3_run):
    result = lam3_run("eval", "--model", "llava15", "--model-arg", "pth=/models/llava", "--judge", "refusal",
                      "--dataset", "mini", "--limit", "1")
    assert result.exit_code == 2
    assert "The model 'llava15' has no argument 'pth'. Did you mean path?" in result.output


def test_a_required_argument_is_named_with_the_option_that_sets_it(lam3_run):
    plugin = ("p", plugin_providing(judges={"needs": lambda threshold_file: FakeJudge()}))
    result = lam3_run("eval", "--model", "echo", "--judge", "needs", "--dataset", "mini", "--limit", "1",
                      plugins=[plugin])
    assert result.exit_code == 2
    assert "The judge 'needs' needs the argument 'threshold_file'. Pass --judge-arg needs.threshold_file=VALUE" \
        in result.output


def test_a_missing_module_names_the_package_to_install(fake_dist, lam3_run):
    fake_dist("heavy-judges", "fakeplug_heavy", JUDGE.format(name="heavy").replace(
        "lam3_core.testing:FakeJudge", "fakeplug_heavy_impl:HeavyJudge"))
    fake_dist("heavy-judges-impl", "fakeplug_heavy_impl", "import not_installed_pkg_xyz\n")
    result = lam3_run("eval", "--model", "echo", "--judge", "heavy", "--dataset", "mini", "--limit", "1")
    assert result.exit_code == 2
    assert "needs the module 'not_installed_pkg_xyz', which is not installed" in result.output
    assert "pip install not_installed_pkg_xyz" in result.output


def test_a_factory_that_returns_the_wrong_kind_is_refused():
    plugins = load_plugins([("p", plugin_providing(judges={"oops": lambda: "not a judge"}))])
    with pytest.raises(UsageError, match="returned a str, not a Judge"):
        plugins.get("judge", "oops").create()


class Typo(FakeJudge):
    measures = "social_toxcity"


def test_a_measure_outside_the_vocabulary_warns_and_stays_out_of_the_attack_success_rate(lam3_run):
    class Registering:
        @hookimpl
        def lam3_register_judges(self, registry):
            registry.add("typo", Typo, "A toxicity judge with a typo.", measures="social_toxcity")

    listing = lam3_run("plugins", plugins=[("typo-dist", Registering())])
    assert "WARNING: the judge 'typo' of typo-dist measures 'social_toxcity'" in listing.output
    assert "did you mean social_toxicity?" in listing.output
    result = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--judge", "typo", "--dataset", "mini",
                      "--limit", "2", plugins=[("typo-dist", Registering())])
    assert result.exit_code == 0, result.output
    assert "not a lam3 measure" in result.output
    assert result.summary["ensemble"]["judges"] == ["refusal"]
    assert result.summary["ensemble"]["side_by_side"] == ["typo"]


def test_the_measures_vocabulary_is_exported():
    assert {m.value for m in Measure} >= {"attack_success", "policy_risk", "refusal", "social_toxicity",
                                         "image_risk", "correctness"}


class Finished:
    def __init__(self):
        self.seen: list = []

    @hookimpl
    def lam3_run_finished(self, run, summary, error):
        self.seen.append((run.command, summary is not None, error))


class OldStyle:
    """An observer written for hookspec 1.0, without the error argument."""

    def __init__(self):
        self.seen = 0

    @hookimpl
    def lam3_run_finished(self, run, summary):
        self.seen += 1


def test_run_finished_fires_with_the_error_of_a_failed_run_and_old_observers_still_work(lam3_run):
    finished, old = Finished(), OldStyle()
    class Down(FakeJudge):
        def score(self, items):
            return [Score.failed("the moderation service is down") for _ in items]

    failing = plugin_providing(judges={"down": Down})
    observers = [("finished", finished), ("old", old), ("p", failing)]
    result = lam3_run("eval", "--model", "echo", "--judge", "down", "--dataset", "mini", "--limit", "2",
                      plugins=observers)
    assert result.exit_code == 1
    [(command, has_summary, error)] = finished.seen
    assert command == "eval" and has_summary and isinstance(error, RunFailed)
    assert "judge down: 2 of 2 records failed" in str(error) and old.seen == 1
    ok = lam3_run("eval", "--model", "echo", "--judge", "refusal", "--dataset", "mini", "--limit", "1",
                  "--out", result.out_dir.parent / "ok", plugins=observers)
    assert ok.exit_code == 0 and finished.seen[-1][2] is None and old.seen == 2


def test_run_finished_hears_of_an_error_raised_inside_the_model(lam3_run):
    class Crashing(FakeModel):
        def generate(self, samples, gen_config, trace=False):
            raise UsageError("the model server refused the request", "Start the model server.")

    finished = Finished()
    result = lam3_run("eval", "--model", "crash", "--judge", "refusal", "--dataset", "mini", "--limit", "1",
                      plugins=[("f", finished), ("p", plugin_providing(models={"crash": Crashing}))])
    assert result.exit_code == 2 and "the model server refused the request" in result.output
    [(_, has_summary, error)] = finished.seen
    assert not has_summary and isinstance(error, UsageError)
    [invocation] = result.meta["invocations"]
    assert invocation["status"] == "failed" and "the model server refused" in invocation["error"]


class Tamperer:
    """An observer that tries to change what it was given."""

    def __init__(self):
        self.attempts: list = []

    @hookimpl
    def lam3_records_written(self, run, kind, records):
        if kind == "generations":
            try:
                records[0]["response"] = "TAMPERED"
            except TypeError as exc:
                self.attempts.append(exc)
                raise


def test_an_observer_cannot_change_what_is_written_or_judged(lam3_run):
    seen: list = []

    class Watching(FakeJudge):
        def score(self, items):
            seen.extend(i.response for i in items)
            return [Score(0.0) for _ in items]

    tamperer = Tamperer()
    result = lam3_run("eval", "--model", "echo", "--judge", "watching", "--dataset", "mini", "--limit", "2",
                      plugins=[("t", tamperer), ("p", plugin_providing(judges={"watching": Watching}))])
    assert result.exit_code == 0, result.output
    assert len(tamperer.attempts) == 1
    assert "TAMPERED" not in seen and all("TAMPERED" not in g["response"] for g in result.generations)
    assert "observer t raised in lam3_records_written" in (result.out_dir / "lam3.log").read_text()


def test_trace_plugins_prints_every_hook_call(monkeypatch, capsys):
    monkeypatch.setenv("LAM3_TRACE_PLUGINS", "1")
    load_plugins()
    err = capsys.readouterr().err
    assert "lam3_register_judges" in err and "lam3_register_models" in err
