"""Helpers for plugin authors: Hugging Face loading and the vision-language model base class,
batching with out-of-memory back-off, web-API calls, images, user files, neutralising model text,
argument checks and secrets handling.

Public, and light to import: torch, transformers and SDKs load only inside functions.
"""
