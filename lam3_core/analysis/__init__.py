"""From records to numbers: the ensemble policy, rates and their intervals, agreement, summary.json
and the report.

Internal: the summary and report formats are public, these functions are not.
"""
