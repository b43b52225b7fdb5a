"""lam3 judge plugin: the HarmBench classifiers as attack-success judges."""
