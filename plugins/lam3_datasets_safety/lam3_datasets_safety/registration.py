"""Registers the safety-benchmark datasets. Light: each loader module is imported only when its dataset is used."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_datasets(registry):
    registry.add(
        "advbench",
        "lam3_datasets_safety.advbench:load_advbench",
        "AdvBench harmful behaviours (520; path=harmful_behaviors.csv), with each GCG target in meta.",
    )
