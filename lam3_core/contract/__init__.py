"""The plugin contract: hook specifications, the table of component kinds, the registrar handed to
plugins, the measures vocabulary, the lifecycle payloads, and the plugin manager that loads them.

Public: plugin authors import these names from ``lam3_core``.
"""
