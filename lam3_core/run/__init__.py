"""The run machinery behind the Python API and the CLI: configuration, the run directory and its
files, resume, the judge cache, and the generate and judge stages.

Internal: not part of the plugin API. Use ``lam3_core.evaluate`` / ``generate`` / ``judge`` /
``report`` instead of importing from here.
"""
