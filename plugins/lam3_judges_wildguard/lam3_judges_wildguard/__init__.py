"""lam3 judge plugin: WildGuard as an attack-success judge that also reports refusal."""
