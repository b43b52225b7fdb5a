"""Registers the built-in offline components. Factories are lazy ``module:attr`` strings."""

from lam3_core.contract.hookspecs import hookimpl


@hookimpl
def lam3_register_models(registry):
    registry.add("echo", "lam3_core.builtin.echo:EchoModel", "Answers with the prompt text (pipeline checks).")
    registry.add(
        "replay",
        "lam3_core.builtin.replay:ReplayModel",
        "Serves pre-generated answers from a JSONL or CSV file keyed by sample id (path=FILE).",
    )


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "refusal",
        "lam3_core.builtin.refusal:RefusalJudge",
        "Refusal-phrase matching (GCG/AdvBench); score 1 = the response does not refuse.",
        measures="refusal",
    )


@hookimpl
def lam3_register_datasets(registry):
    registry.add(
        "mini",
        "lam3_core.builtin.mini:load_mini",
        "Built-in offline set of harmful and benign requests across categories, each with a generated image.",
    )
    registry.add(
        "file", "lam3_core.builtin.files:load_file", "Samples from a JSONL or CSV file (path=FILE, prompt=COLUMN, ...)."
    )


@hookimpl
def lam3_register_attacks(registry):
    registry.add("none", "lam3_core.builtin.attacks:NoAttack", "Baseline: the sample unchanged.")
    registry.add(
        "template",
        "lam3_core.builtin.template_attack:TemplateAttack",
        "Jailbreak templates as data (bundled families or your file): one attacked version per template.",
    )
    registry.add(
        "prefix_injection",
        "lam3_core.builtin.template_attack:prefix_injection",
        "The bundled prefix_injection template alone: asks for an affirmative start (Wei et al. 2023).",
    )
    registry.add(
        "refusal_suppression",
        "lam3_core.builtin.template_attack:refusal_suppression",
        "The bundled refusal_suppression template alone: forbids refusal phrasing (Wei et al. 2023).",
    )
