"""Registers the ``pope`` dataset and the ``pope`` judge. Light: the modules load only when used."""

from lam3_core import hookimpl


@hookimpl
def lam3_register_datasets(registry):
    registry.add(
        "pope", "lam3_datasets_pope.dataset:load_pope",
        "POPE yes/no object questions on COCO (labels=DIR; LLaVA's questions=FILE; image_root=DIR), scored by `pope`.",
    )


@hookimpl
def lam3_register_judges(registry):
    registry.add(
        "pope", "lam3_datasets_pope.judge:PopeJudge",
        "POPE correctness: LLaVA's yes/no rule against the label; accuracy, precision, recall, F1, yes-ratio by split.",
        measures="correctness",
    )
