"""``--seed`` seeds everything: the generation settings and every attack that takes a ``seed`` argument, unless
``--attack-arg NAME.seed=`` gives the attack its own."""

from __future__ import annotations

import pytest

from lam3_core import Attack, Sample
from lam3_core.testing import FakeJudge, FakeModel, plugin_providing


class SeededAttack(Attack):
    """Appends its seed to the prompt, so the seed it was built with shows in the generations."""

    name = "seeded"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def apply(self, samples, model=None):
        return [Sample(s.id, f"{s.prompt} [seed {self.seed}]", s.images) for s in samples]


class UnseededAttack(Attack):
    name = "unseeded"

    def apply(self, samples, model=None):
        return list(samples)


def _eval(lam3_run, tmp_path, *extra):
    plugin = plugin_providing(models={"fake": FakeModel}, judges={"fake_judge": FakeJudge},
                              datasets={"one": lambda: [Sample("a", "hello")]},
                              attacks={"seeded": SeededAttack, "unseeded": UnseededAttack})
    result = lam3_run("eval", "--model", "fake", "--judge", "fake_judge", "--dataset", "one", "--out",
                      str(tmp_path / "run"), *extra, plugins=[("seeds", plugin)])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("extra,seed", [
    ((), 0),
    (("--seed", "7"), 7),
    (("--seed", "7", "--attack-arg", "seeded.seed=3"), 3),  # the attack's own setting wins
])
def test_the_run_seed_reaches_attacks_that_take_one(lam3_run, tmp_path, extra, seed):
    result = _eval(lam3_run, tmp_path, "--attack", "seeded", "--attack", "unseeded", *extra)
    attacked = {g["attack"]: g["prompt_sent"] or g["prompt"] for g in result.generations}
    assert attacked["seeded"].endswith(f"[seed {seed}]") and attacked["unseeded"] == "hello"
    assert result.meta["attacks"]["seeded"]["args"] == {"seed": seed}
    assert result.meta["attacks"]["unseeded"]["args"] == {}
