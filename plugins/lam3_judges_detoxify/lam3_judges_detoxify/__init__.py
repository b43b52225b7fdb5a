"""lam3 judge plugin: Detoxify (original, unbiased, multilingual) social-toxicity classifiers."""

__version__ = "0.1.0"
