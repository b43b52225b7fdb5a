"""The ``template`` attack: each request wrapped in jailbreak templates, one attacked version per template.

Templates come from lam3's bundled set (``templates.yaml``: families ``prefix_injection``,
``refusal_suppression``, ``role_play``, ``style_injection`` and ``distractors``, after Wei et
al. 2023, in lam3's own words) or, with ``file=``, from the user's YAML/JSON file instead.
``names=`` and ``family=`` pick some of them (both given: the union); by default all are used.
Every version keeps the sample's images; ``meta['variant']`` is the template's name, so the
summary reports attack success per template under ``by_variant``.

``prefix_injection`` and ``refusal_suppression``, lam3's earlier single-template attacks, stay
registered as this attack restricted to the bundled template of the same name.
"""

from __future__ import annotations

from dataclasses import replace

from lam3_core.builtin.templates import bundled_templates, read_templates, select
from lam3_core.interfaces.components import Attack
from lam3_core.kit.arguments import as_names


class TemplateAttack(Attack):
    """Arguments: ``names`` (comma-separated or a list), ``family`` (likewise), ``file`` (YAML or JSON)."""

    name = "template"

    def __init__(self, names: str | list[str] | None = None, family: str | list[str] | None = None,
                 file: str | None = None):
        available = read_templates(file) if file else bundled_templates()
        where = f"the template file {file}" if file else "lam3's bundled templates"
        self.templates = select(available, as_names(names), as_names(family), where)

    def config(self) -> dict:
        """The templates in force: a templates file may change while its path stays the same."""
        return {"templates": [[t.name, t.family, t.text] for t in self.templates]}

    def apply(self, samples, model=None):
        return [
            replace(sample, prompt=template.apply(sample.prompt),
                    meta={**sample.meta, "variant": template.name,
                          "attack_info": {"template": template.name, "family": template.family}})
            for sample in samples
            for template in self.templates
        ]


def prefix_injection() -> TemplateAttack:
    """The bundled ``prefix_injection`` template alone."""
    return TemplateAttack(names="prefix_injection")


def refusal_suppression() -> TemplateAttack:
    """The bundled ``refusal_suppression`` template alone."""
    return TemplateAttack(names="refusal_suppression")
