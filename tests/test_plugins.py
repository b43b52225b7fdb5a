"""Entry-point discovery, the allowlist and autoload switch, and rejected plugins."""

from __future__ import annotations

import pytest

from lam3_core.contract.manager import load_plugins
from lam3_core.interfaces.errors import UsageError

GOOD = """
from lam3_core import hookimpl

@hookimpl
def lam3_register_judges(registry):
    registry.add("{name}", "lam3_core.testing:FakeJudge", "A judge from a fake distribution.")
"""


def test_builtins_load_through_the_core_entry_point():
    plugins = load_plugins()
    assert plugins.distributions["lam3"].plugins == ["builtin"]
    assert {"echo", "replay"} <= set(plugins.registry.names("model"))
    assert plugins.get("judge", "refusal").distribution == "lam3"
    assert not plugins.failures


def test_third_party_distribution_is_found(fake_dist):
    fake_dist("fake-judges", "fakeplug_a", GOOD.format(name="fakejudge"), version="2.3")
    plugins = load_plugins()
    comp = plugins.get("judge", "fakejudge")
    assert (comp.distribution, comp.version) == ("fake-judges", "2.3")


def test_disable_autoload_keeps_only_the_core(fake_dist, monkeypatch):
    fake_dist("fake-judges", "fakeplug_a", GOOD.format(name="fakejudge"))
    monkeypatch.setenv("LAM3_DISABLE_PLUGIN_AUTOLOAD", "1")
    plugins = load_plugins()
    assert "fakejudge" not in plugins.registry.names("judge")
    assert "refusal" in plugins.registry.names("judge")


def test_allowlist_loads_only_named_distributions(fake_dist, monkeypatch):
    fake_dist("fake-one", "fakeplug_a", GOOD.format(name="judge_one"))
    fake_dist("fake-two", "fakeplug_b", GOOD.format(name="judge_two"))
    monkeypatch.setenv("LAM3_PLUGINS", "fake_one")
    names = load_plugins().registry.names("judge")
    assert "judge_one" in names and "judge_two" not in names and "refusal" in names


def test_allowlist_naming_an_unknown_distribution_is_an_error(monkeypatch):
    monkeypatch.setenv("LAM3_PLUGINS", "no-such-dist")
    with pytest.raises(UsageError, match="no-such-dist"):
        load_plugins()


def test_import_failure_is_reported_and_others_still_load(fake_dist):
    fake_dist("broken-dist", "fakeplug_broken", "import not_a_real_module_xyz\n")
    fake_dist("fake-judges", "fakeplug_a", GOOD.format(name="fakejudge"))
    plugins = load_plugins()
    assert "fakejudge" in plugins.registry.names("judge")
    [failure] = plugins.failures
    assert failure.distribution == "broken-dist"
    assert "not_a_real_module_xyz" in str(failure)
    with pytest.raises(UsageError, match="broken-dist"):
        plugins.get("judge", "whatever")


def test_same_name_from_two_distributions_names_both_and_the_rest_still_loads(fake_dist):
    fake_dist("fake-one", "fakeplug_a", GOOD.format(name="twin"))
    fake_dist("fake-two", "fakeplug_b", GOOD.format(name="twin"))
    plugins = load_plugins()
    with pytest.raises(UsageError) as err:
        plugins.get("judge", "twin")
    assert "fake-one" in str(err.value) and "fake-two" in str(err.value) and "LAM3_PLUGINS" in str(err.value)
    [failure] = plugins.failures
    assert "twin" in failure.error and "refusal" in plugins.registry.names("judge")


def test_unknown_hook_is_rejected_with_its_name(fake_dist):
    source = GOOD.format(name="ok_judge") + "\n@hookimpl\ndef lam3_register_judgez(registry):\n    pass\n"
    fake_dist("typo-dist", "fakeplug_typo", source)
    plugins = load_plugins()
    [failure] = plugins.failures
    assert failure.distribution == "typo-dist" and "lam3_register_judgez" in failure.error
    assert "ok_judge" not in plugins.registry.names("judge")


def test_a_bad_registration_is_a_load_failure_and_registers_nothing_of_that_plugin(fake_dist):
    source = GOOD.format(name="fine_first") + GOOD.format(name="Bad Name!").replace("lam3_register_judges",
                                                                                  "lam3_register_models")
    fake_dist("bad-name", "fakeplug_bad", source)
    fake_dist("fake-judges", "fakeplug_a", GOOD.format(name="fakejudge"))
    plugins = load_plugins()
    [failure] = plugins.failures
    assert failure.distribution == "bad-name" and "invalid model name 'Bad Name!'" in failure.error
    assert "fine_first" in plugins.registry.names("judge") and "fakejudge" in plugins.registry.names("judge")


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UsageError) as err:
        load_plugins().get("judge", "refusl")
    assert "Did you mean refusal" in str(err.value)


def test_lazy_factory_imports_nothing_until_created():
    comp = load_plugins().get("model", "replay")
    assert comp.factory == "lam3_core.builtin.replay:ReplayModel"
    with pytest.raises(UsageError, match="needs a file of answers"):
        comp.create()
