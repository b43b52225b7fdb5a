"""lam3 judge plugin for the OpenAI Moderation API."""

__version__ = "0.1.0"
