"""Plugins that ship with the core. They register through the core's own entry point, as any third party would."""
