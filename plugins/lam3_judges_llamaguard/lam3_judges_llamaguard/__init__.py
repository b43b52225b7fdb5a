"""lam3 judge plugin: Meta's Llama Guard 2, 3, 3 Vision and 4 as policy-risk judges."""

__version__ = "0.1.0"
