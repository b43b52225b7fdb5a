"""lam3 judge plugin: Meta's Llama Guard 2 and 3 as policy-risk judges."""

__version__ = "0.1.0"
