"""What plugins implement and exchange: the component interfaces, the records, generation settings,
and the errors lam3 raises on purpose.

Public: plugin authors import these names from ``lam3_core``.
"""
