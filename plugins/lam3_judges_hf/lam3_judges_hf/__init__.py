"""lam3 judge plugin: Hugging Face text classifiers and zero-shot NLI as judges."""

__version__ = "0.1.0"
