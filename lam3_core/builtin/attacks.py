"""The baseline attack: the sample as the dataset wrote it."""

from __future__ import annotations

from lam3_core.interfaces.components import Attack


class NoAttack(Attack):
    name = "none"

    def apply(self, samples, model=None):
        return list(samples)
